'use strict';
// A test module (authenticator): a caller is the principal its bearer token names when the token is
// `<name>.<hex HMAC-SHA256 of name under the secret option>` — tokens the operator mints without a
// tokens file. No token, or a bad signature: not authenticated.
const { createHmac, timingSafeEqual } = require('node:crypto');

function authorization(credentials) {
  const raw = typeof credentials.get === 'function' ? credentials.get('authorization') : credentials.authorization;
  const values = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).map(String);
  return values.length === 1 ? values[0] : undefined;
}

exports.sign = (secret, name) => `${name}.${createHmac('sha256', secret).update(name).digest('hex')}`;

exports.berthModule = {
  name: 'signed-token',
  extends: 'authenticator',
  validate: (options) => (typeof options.secret === 'string' && options.secret.length >= 16 ? [] : [{ field: 'secret', message: 'must be a string of at least 16 characters' }]),
  create: (options) => ({
    authenticate(credentials) {
      const m = /^Bearer +([a-z0-9-]+)\.([0-9a-f]{64})$/i.exec(authorization(credentials) ?? '');
      if (m === null) return undefined;
      const expected = Buffer.from(exports.sign(options.secret, m[1]).split('.')[1], 'hex');
      return timingSafeEqual(expected, Buffer.from(m[2], 'hex')) ? { name: m[1] } : undefined;
    },
  }),
};
