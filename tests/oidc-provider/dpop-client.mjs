// A DPoP client made of software that is not bearer-guard's: panva's npm `dpop` package
// makes the key pair and every proof; Node's fetch sends the requests.
//
//   ISSUER    the oidc-provider issuer (its token endpoint is ISSUER/token)
//   AUDIENCE  the resource indicator
//   API       the protected API's base URL (e.g. http://127.0.0.1:PORT)
//
// Obtains a DPoP-bound access token with client_credentials, calls the API in several ways
// and prints one JSON object: { token_type, cnf_jkt, thumbprint, <case>: {status, www_authenticate, body} }.

import { generateKeyPair, generateProof, calculateThumbprint } from 'dpop';

const { ISSUER, AUDIENCE, API } = process.env;
const keypair = await generateKeyPair('ES256');
const tokenUrl = `${ISSUER}/token`;
const tokenResponse = await fetch(tokenUrl, {
  method: 'POST',
  headers: {
    authorization: `Basic ${Buffer.from('notes-client:notes-secret').toString('base64')}`,
    'content-type': 'application/x-www-form-urlencoded',
    dpop: await generateProof(keypair, tokenUrl, 'POST'),
  },
  body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'notes:read notes:write', resource: AUDIENCE }),
});
const grant = await tokenResponse.json();
if (!grant.access_token) {
  console.error(JSON.stringify(grant));
  process.exit(1);
}
const at = grant.access_token;
const payload = JSON.parse(Buffer.from(at.split('.')[1], 'base64url').toString());

async function call(path, method, headers, body) {
  const response = await fetch(`${API}${path}`, { method, headers, body });
  return {
    status: response.status,
    www_authenticate: response.headers.get('www-authenticate'),
    body: await response.text(),
  };
}
const proof = (path, method) => generateProof(keypair, `${API}${path}`, method, undefined, at);
const dpop = async (path, method, p) => ({ authorization: `DPoP ${at}`, dpop: await (p ?? proof(path, method)) });

const out = {
  token_type: grant.token_type,
  cnf_jkt: payload.cnf?.jkt,
  thumbprint: await calculateThumbprint(keypair.publicKey),
};
out.me = await call('/me', 'GET', await dpop('/me', 'GET'));
out.notes = await call('/notes', 'GET', await dpop('/notes', 'GET'));
out.add = await call(
  '/notes',
  'POST',
  { ...(await dpop('/notes', 'POST')), 'content-type': 'application/json' },
  JSON.stringify({ text: 'from a DPoP client' }),
);
const once = await proof('/notes', 'GET');
out.first_use = await call('/notes', 'GET', { authorization: `DPoP ${at}`, dpop: once });
out.replay = await call('/notes', 'GET', { authorization: `DPoP ${at}`, dpop: once });
out.other_url = await call('/notes', 'GET', await dpop('/notes', 'GET', proof('/me', 'GET')));
out.other_method = await call('/notes', 'GET', await dpop('/notes', 'GET', proof('/notes', 'POST')));
out.as_bearer = await call('/notes', 'GET', { authorization: `Bearer ${at}` });
out.no_proof = await call('/notes', 'GET', { authorization: `DPoP ${at}` });
out.no_token = await call('/notes', 'GET', {});
console.log(JSON.stringify(out));
