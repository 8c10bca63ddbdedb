// A real OpenID Provider (panva/oidc-provider 9.x) for bearer-guard's interop
// tests. Configured entirely through environment variables:
//
//   PORT              TCP port on 127.0.0.1; 0 (default) = ephemeral. Once
//                     listening, prints `KID <kid>` and then exactly one
//                     line `READY http://127.0.0.1:<port>` on stdout.
//                     The issuer is that URL (plain http on loopback is
//                     accepted by oidc-provider; no TLS, no proxy settings).
//   ALG               RS256 (default) | PS256 | ES256 | EdDSA: the JWS alg of
//                     the JWT access tokens (and of ID tokens / the only key).
//   KID_PREFIX        prefix of the signing key's `kid` (default "bg"). The kid
//                     is `<KID_PREFIX>-<alg>-<first 16 chars of the RFC 7638
//                     thumbprint>`; keys are freshly generated on every start,
//                     so a restart always yields a different kid, and a
//                     different KID_PREFIX makes that visible.
//   KEY_SEED          accepted as an alias of KID_PREFIX (if KID_PREFIX unset).
//   AUDIENCE          resource indicator = `aud` of the access tokens
//                     (default https://notes.example.test).
//   ACCESS_TOKEN_TTL  access token lifetime in seconds (default 600).
//   EXTRA_RESOURCES   further accepted resource indicators, comma separated
//                     (default none); a token requested for one has aud = it.
//
// Client: notes-client / notes-secret, client_secret_basic or
// client_secret_post, grant_type=client_credentials, allowed scopes
// "notes:read notes:write admin" for the AUDIENCE resource.
//
//   POST /token  grant_type=client_credentials&resource=<AUDIENCE>&scope=...
//   -> RFC 9068 JWT (header typ "at+jwt"), aud = AUDIENCE, iss = issuer,
//      sub = client_id = "notes-client", `scope` = the requested scopes
//      (space separated, in the order requested, e.g. "notes:read admin").
//      Without a `scope` parameter the token has NO `scope` claim at all.
//      Scopes that are registered but not allowed for the client (openid,
//      offline_access) are rejected with invalid_scope; scopes unknown to
//      the provider (e.g. "bogus") are silently dropped from the grant.
//      A `resource` other than AUDIENCE -> invalid_target; no `resource`
//      at all -> AUDIENCE is used (defaultResource).
//
// Opaque access tokens, introspection and revocation (issue 12):
//   POST /token ...&resource=urn:bearer-guard:opaque -> an OPAQUE access token
//      (no dots) for the same audience: its RFC 7662 answer has aud = AUDIENCE,
//      iss, client_id, sub, scope, exp, iat, token_type "Bearer".
//   POST /token/introspection  RFC 7662, callers authenticate as
//      notes-api / notes-api-secret (client_secret_basic or _post) or as
//      notes-api-jwt with private_key_jwt (RS256 key in
//      introspection-client.key.pem, kid "notes-api-jwt-1").
//      JWT access tokens are not introspectable here (oidc-provider refuses
//      structured tokens).
//   POST /token/revocation     RFC 7009, as the client that got the token.
//
// Exits 0 on SIGTERM/SIGINT.

import { generateKeyPairSync, createHash, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';

const env = process.env;
const ALG = env.ALG || 'RS256';
const AUDIENCE = env.AUDIENCE || 'https://notes.example.test';
const EXTRA_RESOURCES = (env.EXTRA_RESOURCES || '').split(',').map((s) => s.trim()).filter(Boolean);
const TTL = Number.parseInt(env.ACCESS_TOKEN_TTL || '600', 10);
const REQUESTED_PORT = Number.parseInt(env.PORT || '0', 10);
const KID_PREFIX = env.KID_PREFIX || env.KEY_SEED || 'bg';
const HOST = '127.0.0.1';
const RESOURCE_SCOPES = 'notes:read notes:write admin';
// Resource indicator whose access tokens are opaque (same audience).
const OPAQUE_RESOURCE = 'urn:bearer-guard:opaque';
const INTROSPECTION_CLIENT_JWK = {
  ...createPublicKey(readFileSync(new URL('./introspection-client.key.pem', import.meta.url))).export({ format: 'jwk' }),
  kid: 'notes-api-jwt-1',
  alg: 'RS256',
  use: 'sig',
};

if (!Number.isInteger(TTL) || TTL <= 0) {
  fail(`ACCESS_TOKEN_TTL must be a positive integer, got ${env.ACCESS_TOKEN_TTL}`);
}
if (!Number.isInteger(REQUESTED_PORT) || REQUESTED_PORT < 0 || REQUESTED_PORT > 65535) {
  fail(`PORT must be 0..65535, got ${env.PORT}`);
}

function fail(msg) {
  console.error(`provider.mjs: ${msg}`);
  process.exit(2);
}

function generateSigningJwk(alg) {
  let pair;
  switch (alg) {
    case 'RS256':
    case 'PS256':
      pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
      break;
    case 'ES256':
      pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      break;
    case 'EdDSA':
      pair = generateKeyPairSync('ed25519');
      break;
    default:
      fail(`unsupported ALG ${alg} (use RS256, PS256, ES256 or EdDSA)`);
  }
  const jwk = pair.privateKey.export({ format: 'jwk' });
  // RFC 7638 thumbprint over the required public members.
  const required = {
    RSA: ['e', 'kty', 'n'],
    EC: ['crv', 'kty', 'x', 'y'],
    OKP: ['crv', 'kty', 'x'],
  }[jwk.kty];
  const canonical = JSON.stringify(Object.fromEntries(required.map((k) => [k, jwk[k]])));
  const thumbprint = createHash('sha256').update(canonical).digest('base64url');
  return {
    ...jwk,
    kid: `${KID_PREFIX}-${alg.toLowerCase()}-${thumbprint.slice(0, 16)}`,
    alg,
    use: 'sig',
  };
}

const signingJwk = generateSigningJwk(ALG);

function createProvider(issuer) {
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'notes-client',
        client_secret: 'notes-secret',
        // client_secret_post is accepted as well: oidc-provider treats the
        // two secret-based methods as interchangeable.
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        scope: RESOURCE_SCOPES,
        id_token_signed_response_alg: ALG,
      },
      // The resource server itself, for introspection only.
      {
        client_id: 'notes-api',
        client_secret: 'notes-api-secret',
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: [],
        response_types: [],
        redirect_uris: [],
      },
      {
        client_id: 'notes-api-jwt',
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'RS256',
        jwks: { keys: [INTROSPECTION_CLIENT_JWK] },
        grant_types: [],
        response_types: [],
        redirect_uris: [],
      },
    ],
    // Registering the scopes makes the client's `scope` allow-list enforced
    // (otherwise unknown scopes are silently dropped instead of rejected).
    scopes: ['openid', 'offline_access', ...RESOURCE_SCOPES.split(' ')],
    jwks: { keys: [signingJwk] },
    clientDefaults: {
      id_token_signed_response_alg: ALG,
    },
    enabledJWA: {
      idTokenSigningAlgValues: [ALG],
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // RFC 9449: a token request with a DPoP proof gets a DPoP-bound token (cnf.jkt).
      dPoP: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // No `resource` parameter -> still mint a token for AUDIENCE.
        defaultResource: () => AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resourceIndicator) => {
          if (resourceIndicator === OPAQUE_RESOURCE) {
            return {
              scope: RESOURCE_SCOPES,
              audience: AUDIENCE,
              accessTokenTTL: TTL,
              accessTokenFormat: 'opaque',
            };
          }
          if (resourceIndicator !== AUDIENCE && !EXTRA_RESOURCES.includes(resourceIndicator)) {
            // Unknown resource -> invalid_target.
            throw new errors.InvalidTarget();
          }
          return {
            scope: RESOURCE_SCOPES,
            audience: resourceIndicator,
            accessTokenTTL: TTL,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: ALG } },
          };
        },
      },
    },
    ttl: {
      AccessToken: TTL,
      ClientCredentials: TTL,
    },
    cookies: { keys: ['bearer-guard-interop-cookie-key'] },
    // Never render HTML error pages into test logs.
    renderError: (ctx, out) => {
      ctx.type = 'json';
      ctx.body = out;
    },
  });
  // Log server-side errors (to stderr) so failing interop tests are debuggable.
  provider.on('server_error', (_ctx, err) => console.error('server_error', err));
  provider.on('grant.error', (_ctx, err) => console.error('grant.error', err.message, err.error_description ?? ''));
  return provider;
}

async function listen(port) {
  // Node sets SO_REUSEADDR on listening sockets, so a restarted provider can
  // re-bind the same port immediately after the previous process exited.
  // We still retry EADDRINUSE for a few seconds in case the old process is
  // still shutting down.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const server = http.createServer();
    try {
      await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, HOST, () => {
          server.off('error', reject);
          resolve();
        });
      });
      return server;
    } catch (err) {
      if (err.code === 'EADDRINUSE' && port !== 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      fail(`cannot listen on ${HOST}:${port}: ${err.message}`);
    }
  }
}

const server = await listen(REQUESTED_PORT);
const { port } = server.address();
const issuer = `http://${HOST}:${port}`;
const provider = createProvider(issuer);
server.on('request', provider.callback());

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

console.error(`provider.mjs: alg=${ALG} kid=${signingJwk.kid} aud=${AUDIENCE} ttl=${TTL}s`);
process.stdout.write(`KID ${signingJwk.kid}\n`);
process.stdout.write(`READY ${issuer}\n`);
