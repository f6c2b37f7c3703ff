/**
 * URLs the panel links to. Server data may be hostile: only http(s) URLs are
 * ever used, and port proxy links must stay on the session's own origin.
 */

/** `url` resolved against `origin` if it is http(s), else null. */
export function httpUrl(url: string, origin: string): URL | null {
  let parsed: URL;
  try {
    parsed = new URL(url, origin);
  } catch {
    return null;
  }
  return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed : null;
}

/** jupyter-server-proxy's path for `port` under the server's base URL. */
export function defaultProxyPath(baseUrl: string, port: number): string {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  return `${base}proxy/${port}/`;
}

/**
 * The absolute link for a listening port: the server's `proxy_url` when it
 * is on the session's origin, else the standard proxy path.
 */
export function proxyLink(
  port: number,
  proxyUrl: string | null,
  baseUrl: string,
  origin: string
): string {
  const fallback = httpUrl(defaultProxyPath(baseUrl, port), origin);
  const given = proxyUrl === null ? null : httpUrl(proxyUrl, origin);
  const chosen = given && given.origin === new URL(origin).origin ? given : fallback;
  if (chosen === null) {
    throw new Error(`cannot build a proxy URL for port ${port} from base URL ${baseUrl}`);
  }
  return chosen.href;
}
