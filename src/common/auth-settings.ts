/**
 * The `auth` settings of every daemon that authenticates callers (the master, the framework host):
 * which tokens file and ACLs file to use, and whether authentication is on. It must be stated: a
 * daemon without a tokens file and without `auth.enabled: false` refuses to start, so it is never
 * open by accident. The files' formats are in `auth.ts`. `auth.enabled: false` together with a tokens
 * or ACLs file is refused too: which of the two the operator meant cannot be told, and taking
 * "false" would turn authentication off without a word.
 */
import { z } from 'zod';
import { configMeta } from './config-schema';

export const authSettingsSchema = z
  .strictObject({
    /**
     * Whether callers must present a bearer token and pass the ACLs. Must be stated when no
     * `tokensFile` is configured: authentication is never off by accident (Mesos's default-off was its
     * most exploited weakness). Unset with a `tokensFile`: on.
     * `false` with a `tokensFile` or `aclsFile` set is a config error (a contradiction).
     * @default on if `tokensFile` is set; otherwise a config error
     */
    enabled: z.boolean().optional().describe('require bearer tokens and ACLs (must be stated when no tokens file is set)')
      .register(configMeta, { defaultText: '(must be stated)' }),
    /**
     * YAML/JSON file of principals and their tokens (`principals: [{ name, tokenSha256 }]`); required
     * while `enabled` unless an `authenticator` module is loaded (docs/modules.md). @default unset
     */
    tokensFile: z.string().min(1).optional().describe('file of principals and their (hashed) bearer tokens'),
    /** YAML/JSON file of ACL rules; without it every action but `view` is denied. @default unset */
    aclsFile: z.string().min(1).optional().describe('file of ACL rules (default deny, except view)'),
  })
  .superRefine((auth, ctx) => {
    const tokens = typeof auth?.tokensFile === 'string';
    if (auth?.enabled === undefined && !tokens) {
      ctx.addIssue({ code: 'custom', message: 'authentication is on unless explicitly disabled, but no tokens file is configured: set auth.tokensFile (--auth-tokens-file, BERTH_AUTH_TOKENS_FILE) or, to run without authentication, auth.enabled: false (--auth-enabled false, BERTH_AUTH_ENABLED=false)' });
    } else if (auth?.enabled === false && (tokens || typeof auth?.aclsFile === 'string')) {
      const files = [tokens ? `auth.tokensFile (${auth.tokensFile})` : '', typeof auth.aclsFile === 'string' ? `auth.aclsFile (${auth.aclsFile})` : ''].filter((f) => f !== '').join(' and ');
      ctx.addIssue({ code: 'custom', path: ['enabled'], message: `is false, but ${files} ${files.includes(' and ') ? 'are' : 'is'} set: authentication would be off without a word; remove auth.enabled to authenticate with the file, or remove the file to run without authentication` });
    }
  }, { when: () => true })
  .transform((auth) => ({ ...auth, enabled: auth.enabled ?? true }));
