// A real MCP client (the official TypeScript SDK, @modelcontextprotocol/sdk) driving
// bearer-guard's `mcp_server` example for tests/interop_mcp.rs. Nothing here decides whether
// the server is right: it records what the SDK saw and prints it as one JSON line
// (`REPORT {...}`) for the Rust test to check.
//
// Environment:
//   MCP_URL        the server's MCP endpoint (= its resource identifier)
//   CLIENT_ID      client registered at the authorization server (client_credentials)
//   CLIENT_SECRET  its secret
//   READ_TOKEN     an access token for MCP_URL with scope notes:read
//   WRITE_TOKEN    an access token for MCP_URL with scope "notes:read notes:write"
//   OTHER_TOKEN    an access token of the same issuer for ANOTHER resource (other aud)
//   EXPECTED_ISSUER  the authorization server the SDK may send the client's credentials to

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import {
  discoverAuthorizationServerMetadata,
  discoverOAuthProtectedResourceMetadata,
  extractWWWAuthenticateParams,
} from '@modelcontextprotocol/sdk/client/auth.js';

const env = process.env;
for (const name of ['EXPECTED_ISSUER', 'MCP_URL', 'CLIENT_ID', 'CLIENT_SECRET', 'READ_TOKEN', 'WRITE_TOKEN', 'OTHER_TOKEN']) {
  if (!env[name]) {
    console.error(`client.mjs: ${name} is not set`);
    process.exit(2);
  }
}
const mcpUrl = new URL(env.MCP_URL);
// A failure the SDK raises outside the awaited call (it has happened on refusals) must not
// end the run without a report: record it instead.
const stray = [];
process.on('unhandledRejection', (err) => stray.push(String(err?.message ?? err)));
process.on('uncaughtException', (err) => stray.push(String(err?.message ?? err)));
const report = {};

/// A fetch that records every exchange (method, url, status, WWW-Authenticate, and the
/// `resource`/`scope`/`grant_type` of form bodies sent to a token endpoint).
function recordingFetch(log) {
  return async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    const entry = { method, url };
    const body = init?.body;
    if (body instanceof URLSearchParams || typeof body === 'string') {
      const form = new URLSearchParams(String(body));
      if (form.has('grant_type')) {
        entry.form = { grant_type: form.get('grant_type'), resource: form.get('resource'), scope: form.get('scope') };
      }
    }
    const response = await fetch(input, init);
    entry.status = response.status;
    const challenge = response.headers.get('www-authenticate');
    if (challenge) entry.www_authenticate = challenge;
    log.push(entry);
    return response;
  };
}

function text(result) {
  return (result.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('');
}

async function attempt(fn) {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    return { ok: false, error: String(err?.message ?? err), code: err?.code };
  }
}

/// A client with a fixed bearer token and no auth provider (so refusals surface as errors).
async function withToken(token, log) {
  const transport = new StreamableHTTPClientTransport(mcpUrl, {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
    fetch: recordingFetch(log),
  });
  const client = new Client({ name: 'bearer-guard-interop', version: '0.0.0' });
  await client.connect(transport);
  return client;
}

// 1. Discovery by hand, with the SDK's own functions: 401 -> resource_metadata -> RFC 9728
//    document -> the authorization server's metadata.
{
  const response = await fetch(mcpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
  });
  const { resourceMetadataUrl, scope } = extractWWWAuthenticateParams(response);
  const prm = await discoverOAuthProtectedResourceMetadata(mcpUrl, { resourceMetadataUrl });
  const as = await discoverAuthorizationServerMetadata(new URL(prm.authorization_servers[0]));
  report.discovery = {
    status: response.status,
    www_authenticate: response.headers.get('www-authenticate'),
    resource_metadata_url: resourceMetadataUrl ? String(resourceMetadataUrl) : null,
    challenge_scope: scope ?? null,
    metadata: prm,
    as_issuer: as?.issuer ?? null,
    as_token_endpoint: as?.token_endpoint ?? null,
  };
}

// 2. The SDK's whole OAuth flow, as a client_credentials client configured with `scope`:
//    no token -> 401 -> RFC 9728 discovery -> token for this resource -> connect -> tools ->
//    list_notes -> add_note. (The SDK's client_credentials provider always asks for its
//    configured scope, so a read-only client's step-up after the 403 gets a read-only token
//    again, and the SDK gives up with the 403.)
async function oauthFlow(scope, noteText) {
  const log = [];
  const authProvider = new ClientCredentialsProvider({
    clientId: env.CLIENT_ID,
    clientSecret: env.CLIENT_SECRET,
    scope,
    expectedIssuer: env.EXPECTED_ISSUER,
  });
  const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider, fetch: recordingFetch(log) });
  const client = new Client({ name: 'bearer-guard-interop-oauth', version: '0.0.0' });
  const connected = await attempt(() => client.connect(transport));
  const flow = { connected: connected.ok, connect_error: connected.error ?? null };
  if (connected.ok) {
    flow.tools = (await client.listTools()).tools.map((t) => t.name).sort();
    flow.list_notes = text(await client.callTool({ name: 'list_notes', arguments: {} }));
    const added = await attempt(() => client.callTool({ name: 'add_note', arguments: { text: noteText } }));
    flow.add_note = added.ok ? { ok: true, text: text(added.value), is_error: added.value.isError ?? false } : added;
    await attempt(() => client.close());
  }
  flow.exchanges = log;
  return flow;
}
report.oauth_read_only = await oauthFlow('notes:read', 'not allowed');
report.oauth_read_write = await oauthFlow('notes:read notes:write', 'added through OAuth');

// 3. A read-only token: connect, list tools, list_notes; add_note is refused (403).
{
  const log = [];
  const client = await withToken(env.READ_TOKEN, log);
  const read = { tools: (await client.listTools()).tools.map((t) => t.name).sort() };
  read.list_notes = text(await client.callTool({ name: 'list_notes', arguments: {} }));
  read.add_note = await attempt(() => client.callTool({ name: 'add_note', arguments: { text: 'not allowed' } }));
  read.refusal = log.find((e) => e.status === 403) ?? null;
  await client.close();
  report.read_only = read;
}

// 4. A read+write token: add_note succeeds and list_notes shows the note.
{
  const log = [];
  const client = await withToken(env.WRITE_TOKEN, log);
  const added = await client.callTool({ name: 'add_note', arguments: { text: 'hello from the TypeScript SDK' } });
  report.read_write = {
    add_note: text(added),
    add_note_is_error: added.isError ?? false,
    list_notes: text(await client.callTool({ name: 'list_notes', arguments: {} })),
    statuses: log.map((e) => e.status),
  };
  await client.close();
}

// 5. A token for another resource (other `aud`): refused with 401 at connect.
{
  const log = [];
  const connected = await attempt(() => withToken(env.OTHER_TOKEN, log));
  report.other_audience = { connected: connected.ok, error: connected.error ?? null, exchanges: log };
}

report.stray_errors = stray;
console.log(`REPORT ${JSON.stringify(report)}`);
process.exit(0);
