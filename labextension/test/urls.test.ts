import { test } from 'node:test';
import assert from 'node:assert/strict';

import { defaultProxyPath, httpUrl, proxyLink } from '../src/core/urls';

const ORIGIN = 'https://hub.example.org';

test('the default proxy path sits under the base URL', () => {
  assert.equal(defaultProxyPath('/user/alice/', 8000), '/user/alice/proxy/8000/');
  assert.equal(defaultProxyPath('/user/alice', 8000), '/user/alice/proxy/8000/');
});

test('a relative proxy_url from the server is made absolute on the page origin', () => {
  assert.equal(
    proxyLink(8000, '/user/alice/proxy/8000/', '/user/alice/', ORIGIN),
    'https://hub.example.org/user/alice/proxy/8000/'
  );
});

test('a proxy_url on another origin or scheme is replaced by the standard path', () => {
  const expected = 'https://hub.example.org/user/alice/proxy/8000/';
  assert.equal(proxyLink(8000, 'https://evil.example.com/x', '/user/alice/', ORIGIN), expected);
  assert.equal(proxyLink(8000, 'javascript:alert(1)', '/user/alice/', ORIGIN), expected);
  assert.equal(proxyLink(8000, null, '/user/alice/', ORIGIN), expected);
});

test('only http(s) URLs are accepted', () => {
  assert.equal(httpUrl('javascript:alert(1)', ORIGIN), null);
  assert.equal(httpUrl('data:text/html,hi', ORIGIN), null);
  assert.equal(httpUrl('/hub/accept-share?code=x', ORIGIN)?.href, `${ORIGIN}/hub/accept-share?code=x`);
});
