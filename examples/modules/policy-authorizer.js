'use strict';
/**
 * policy-authorizer — a Berth authorizer (extension point `authorizer`) that reads a policy file
 * with wildcards and reloads it when it changes, without a restart.
 *
 *   # policy.yaml (or .json)
 *   allow:
 *     - { principal: "ci-*", action: register_framework, object: "build/*" }
 *     - { principal: ops, action: "*" }
 *   deny:
 *     - { principal: "*", action: run_task, object: "prod*" }
 *
 * `*` in any field matches any run of characters (`ci-*` matches `ci-1`; a lone `*` also matches
 * no object). Deny wins over allow; nothing matching means denied, except `view`. A file that
 * cannot be read or parsed at start stops the daemon (exit 78); a bad edit later is logged and the
 * last good policy stays in force.
 *
 *   # modules.yaml, for `berth master --modules modules.yaml`
 *   modules:
 *     - module: ./examples/modules/policy-authorizer
 *       options: { policyFile: ./policy.yaml, checkEveryMs: 500 }
 *
 * `allowed` is called on the request path of every authorized call: it answers from the policy in
 * memory. The file is checked every `checkEveryMs` (its mtime and size), which works on every file
 * system, unlike fs.watch.
 */
const fs = require('node:fs');
const path = require('node:path');

const FIELDS = ['principal', 'action', 'object'];

function validate(options) {
  const problems = [];
  for (const key of Object.keys(options)) if (key !== 'policyFile' && key !== 'checkEveryMs') problems.push({ field: key, message: 'unknown option (known: policyFile, checkEveryMs)' });
  if (typeof options.policyFile !== 'string' || options.policyFile === '') problems.push({ field: 'policyFile', message: `must be the path of the policy file, got ${JSON.stringify(options.policyFile)}` });
  const every = options.checkEveryMs;
  if (every !== undefined && (!Number.isInteger(every) || every < 10)) problems.push({ field: 'checkEveryMs', message: `must be an integer of at least 10, got ${JSON.stringify(every)}` });
  return problems;
}

/** A wildcard pattern as a RegExp: `*` is any run of characters, everything else literal. */
function pattern(text) {
  return new RegExp(`^${text.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

/** Reads and checks the policy; throws an Error naming the file and the bad rule's field. */
function readPolicy(file) {
  const text = fs.readFileSync(file, 'utf8');
  const doc = /\.json$/i.test(file) ? JSON.parse(text) : require('yaml').parse(text);
  const out = { allow: [], deny: [] };
  for (const effect of ['allow', 'deny']) {
    const rules = doc?.[effect] ?? [];
    if (!Array.isArray(rules)) throw new Error(`${file}: ${effect} must be a list of rules`);
    rules.forEach((rule, i) => {
      const rule_ = {};
      for (const field of FIELDS) {
        const v = rule?.[field] ?? '*';
        if (typeof v !== 'string' || v === '') throw new Error(`${file}: ${effect}[${i}].${field} must be a non-empty string, got ${JSON.stringify(v)}`);
        rule_[field] = pattern(v);
      }
      out[effect].push(rule_);
    });
  }
  return out;
}

const matches = (rules, name, action, object) => rules.some((r) => r.principal.test(name) && r.action.test(action) && (object === undefined ? r.object.source === '^.*$' : r.object.test(object)));

function create(options, context) {
  const file = path.resolve(options.policyFile); // relative: to the daemon's working directory
  let policy;
  try {
    policy = readPolicy(file);
  } catch (err) {
    throw new Error(`policyFile: ${err.message}`);
  }
  let seen = fs.statSync(file);
  const timer = setInterval(() => {
    let st;
    try {
      st = fs.statSync(file);
    } catch (err) {
      return context.logger.warn('policy file unreadable; the last policy stays', { file, err: err.message });
    }
    if (st.mtimeMs === seen.mtimeMs && st.size === seen.size) return;
    seen = st;
    try {
      policy = readPolicy(file);
      context.logger.info('policy reloaded', { file, allow: policy.allow.length, deny: policy.deny.length });
    } catch (err) {
      context.logger.warn('policy file invalid; the last policy stays', { file, err: err.message });
    }
  }, options.checkEveryMs ?? 1000);
  context.signal.addEventListener('abort', () => clearInterval(timer), { once: true });
  return {
    allowed(principal, action, object) {
      if (principal === undefined) return false;
      if (matches(policy.deny, principal.name, action, object)) return false;
      return matches(policy.allow, principal.name, action, object) || action === 'view';
    },
  };
}

exports.berthModule = { name: 'policy-authorizer', extends: 'authorizer', validate, create };
