// A real OpenID Connect provider (panva/oidc-provider) on loopback, for the workbench's
// identity-verification tests. Test-only: in-memory state, devInteractions (any login name with
// any password signs in as that account id), keys generated at start.
//
//   node tests/oidc/provider.mjs --port N
//
// Issuer http://127.0.0.1:N; prints `listening http://127.0.0.1:N` once it accepts connections.
// See README.md beside this file for the request sequence an HTTP client drives.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const HOST = '127.0.0.1';

const { values: args } = parseArgs({
  options: { port: { type: 'string' } },
  strict: true,
});
const port = Number.parseInt(args.port ?? '', 10);
if (!Number.isInteger(port) || port < 1 || port > 65535 || String(port) !== args.port) {
  process.stderr.write('usage: node tests/oidc/provider.mjs --port N\n');
  process.exit(2);
}
const issuer = `http://${HOST}:${port}`;

// The acr a login gets: "ial1" for logins starting with "low-", "ial2" for any other.
const acrFor = (login) => (String(login).startsWith('low-') ? 'ial1' : 'ial2');
const emailFor = (login) => (String(login).includes('@') ? String(login) : `${login}@example.com`);

// Both clients are native (RFC 8252 section 7.3): oidc-provider then accepts a redirect_uri that
// differs from a registered http://127.0.0.1/... one only by its port, which is what a
// workbench listening on a random loopback port needs.
const client = (clientId, secret) => ({
  client_id: clientId,
  client_secret: secret,
  application_type: 'native',
  redirect_uris: ['http://127.0.0.1/identity/callback'],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  id_token_signed_response_alg: 'RS256',
});

// A fresh RS256 signing key for every run (not oidc-provider's fixed development key).
const signingKey = {
  ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid: `test-${randomBytes(6).toString('hex')}`,
  alg: 'RS256',
  use: 'sig',
};

const configuration = {
  jwks: { keys: [signingKey] },
  clients: [client('workbench-login', 'login-secret'), client('workbench-idme', 'idme-secret')],
  features: {
    devInteractions: { enabled: true },
  },
  pkce: { required: () => true }, // S256 is the only method oidc-provider 9 supports
  acrValues: ['ial1', 'ial2'],
  claims: {
    acr: null,
    sid: null,
    auth_time: null,
    iss: null,
    openid: ['sub', 'acr'],
    email: ['email'],
    profile: [],
  },
  // Release the scope's claims (email) in the ID token too, not only at userinfo.
  conformIdTokenClaims: false,
  // Short-lived ID tokens (5 minutes), so the workbench's tests can check that an expired
  // token is refused by moving their own clock forward.
  ttl: { IdToken: 300 },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: emailFor(id) };
      },
    };
  },
};

const provider = new Provider(issuer, configuration);

// devInteractions finish the login prompt with { login: { accountId } } only; stamp the acr of
// that login on the session here, so the ID token's `acr` (which oidc-provider takes from the
// session, not from the account's claims) follows the login name.
const interactionFinished = provider.interactionFinished.bind(provider);
provider.interactionFinished = (req, res, result, options) => {
  if (result?.login?.accountId !== undefined && result.login.acr === undefined) {
    result.login.acr = acrFor(result.login.accountId);
  }
  return interactionFinished(req, res, result, options);
};

provider.on('server_error', (ctx, err) => {
  process.stderr.write(`server_error ${ctx.method} ${ctx.path}: ${err?.stack ?? err}\n`);
});
provider.on('authorization.error', (ctx, err) => {
  process.stderr.write(`authorization.error: ${err.message} ${err.error_description ?? ''}\n`);
});
provider.on('grant.error', (ctx, err) => {
  process.stderr.write(`grant.error: ${err.message} ${err.error_description ?? ''}\n`);
});

const server = provider.listen(port, HOST, () => {
  process.stdout.write(`listening ${issuer}\n`);
});
server.on('error', (err) => {
  process.stderr.write(`cannot listen on ${HOST}:${port}: ${err.message}\n`);
  process.exit(1);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
