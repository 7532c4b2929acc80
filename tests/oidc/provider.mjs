// A real OpenID Connect provider (panva/oidc-provider) on loopback, for the workbench's
// identity-verification tests. Test-only: in-memory state, devInteractions (any login name with
// any password signs in as that account id), a signing key generated at start.
//
//   node tests/oidc/provider.mjs --port N [--kid ID]
//
// Issuer http://127.0.0.1:N; prints `listening http://127.0.0.1:N` once it accepts connections.
// `--kid ID` publishes (and signs with) the fresh key under that key id instead of a random one,
// so a restart on the same port can replace the key under the same id. `GET /_test/requests`
// answers how many requests each path has had since start (JSON), so tests can see how often a
// relying party fetched discovery and keys.
// See README.md beside this file for the request sequence an HTTP client drives.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const HOST = '127.0.0.1';

const usage = (why) => {
  process.stderr.write(`${why}\nusage: node tests/oidc/provider.mjs --port N [--kid ID]\n`);
  process.exit(2);
};
let args;
try {
  ({ values: args } = parseArgs({
    options: { port: { type: 'string' }, kid: { type: 'string' } },
    strict: true,
  }));
} catch (err) {
  usage(err.message);
}
const port = Number.parseInt(args.port ?? '', 10);
if (!Number.isInteger(port) || port < 1 || port > 65535 || String(port) !== args.port) {
  usage(`--port must be a port number 1-65535 (got ${JSON.stringify(args.port ?? null)})`);
}
if (args.kid !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(args.kid)) {
  usage(`--kid must be 1-64 characters of A-Z a-z 0-9 . _ - (got ${JSON.stringify(args.kid)})`);
}
const issuer = `http://${HOST}:${port}`;

// The acr a login gets honours the request's `acr_values` (space-separated, in order of
// preference), as Login.gov does: the first requested level this person can reach, else "ial1"
// (also when nothing is requested). Logins starting with "low-" can reach "ial1" only, so a
// request for "ial2" still yields "ial1" for them (the relying party must check the ID token).
const acrFor = (login, acrValues) => {
  const reachable = String(login).startsWith('low-') ? ['ial1'] : ['ial1', 'ial2'];
  const requested = String(acrValues ?? '').split(' ').filter(Boolean);
  return requested.find((acr) => reachable.includes(acr)) ?? 'ial1';
};
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
  kid: args.kid ?? `test-${randomBytes(6).toString('hex')}`,
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
// that login (and of the authorization request's acr_values) on the session here, so the ID
// token's `acr` (which oidc-provider takes from the session, not from the account's claims)
// follows them.
const interactionFinished = provider.interactionFinished.bind(provider);
provider.interactionFinished = async (req, res, result, options) => {
  if (result?.login?.accountId !== undefined && result.login.acr === undefined) {
    const { params } = await provider.interactionDetails(req, res);
    result.login.acr = acrFor(result.login.accountId, params.acr_values);
  }
  return interactionFinished(req, res, result, options);
};

// Requests per path since start, at GET /_test/requests (not counted itself).
const requestsByPath = {};
provider.use(async (ctx, next) => {
  if (ctx.method === 'GET' && ctx.path === '/_test/requests') {
    ctx.body = requestsByPath;
    return;
  }
  requestsByPath[ctx.path] = (requestsByPath[ctx.path] ?? 0) + 1;
  await next();
});

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
