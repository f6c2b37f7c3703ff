/**
 * Client of the server extension's REST API (`{baseUrl}sessions-api/`).
 * ServerConnection adds the token / XSRF header the server requires.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  errorMessage,
  INewShareLink,
  IPort,
  ISessionState,
  ISharing,
  parseNewShareLink,
  parsePorts,
  parseSessionState,
  parseSharing
} from './core/parse';

/** A failed call, with the server's message and HTTP status (0 = no answer). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface IAnswer<T> {
  data: T;
  /** The response's Date header, to correct for clock skew. */
  date: string | null;
}

export class SessionsApi {
  constructor(readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {}

  get baseUrl(): string {
    return this.settings.baseUrl;
  }

  async session(): Promise<IAnswer<ISessionState>> {
    return this.call('session', { method: 'GET' }, parseSessionState);
  }

  async renew(): Promise<void> {
    await this.call('session/renew', { method: 'POST', body: '{}' }, () => undefined);
  }

  async sharing(): Promise<ISharing> {
    return (await this.call('shares', { method: 'GET' }, parseSharing)).data;
  }

  async createShareLink(): Promise<INewShareLink> {
    return (await this.call('share-codes', { method: 'POST', body: '{}' }, parseNewShareLink)).data;
  }

  /** Give a hub user, or every member of a hub group, access to this session. */
  async grantShare(kind: 'user' | 'group', name: string): Promise<void> {
    await this.call('shares', { method: 'POST', body: JSON.stringify({ [kind]: name }) }, () => undefined);
  }

  async revokeShare(kind: 'user' | 'group', name: string): Promise<void> {
    await this.call('shares', { method: 'DELETE', body: JSON.stringify({ [kind]: name }) }, () => undefined);
  }

  async revokeShareLinks(): Promise<void> {
    await this.call('share-codes', { method: 'DELETE' }, () => undefined);
  }

  async ports(): Promise<IPort[]> {
    return (await this.call('ports', { method: 'GET' }, parsePorts)).data;
  }

  private async call<T>(
    path: string,
    init: RequestInit,
    parse: (data: unknown) => T
  ): Promise<IAnswer<T>> {
    const url = URLExt.join(this.settings.baseUrl, 'sessions-api', path);
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch (err) {
      throw new ApiError(`The session's server did not answer: ${String(err)}`, 0);
    }
    const text = await response.text();
    let data: unknown = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = text;
      }
    }
    if (!response.ok) {
      throw new ApiError(errorMessage(data, response.status), response.status);
    }
    return { data: parse(data), date: response.headers.get('Date') };
  }
}
