/**
 * Docker image reference syntax (the grammar of distribution/reference, which `docker pull` uses):
 *
 *     reference := name [ ":" tag ] [ "@" digest ]
 *     name      := [ domain "/" ] path-component { "/" path-component }
 *     domain    := host [ ":" port ]        host: DNS name or [IPv6]
 *     path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *     tag       := [\w][\w.-]{0,127}
 *     digest    := algorithm ":" hex{32,}
 *
 * Checked at the master so a typo fails the launch at once with TASK_ERROR, instead of as a pull
 * failure on the agent after the task was staged.
 */

const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9A-Fa-f:]+\\])(?::[0-9]+)?`;
const NAME = `(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}';
const REFERENCE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);

/** Longest repository name Docker accepts. */
export const MAX_IMAGE_NAME_LENGTH = 255;

/** Longest image reference looked at: a repository name, a tag and a digest. */
export const MAX_IMAGE_REFERENCE_LENGTH = 1024;

/**
 * Why `image` is not a valid image reference (e.g. `registry.example/app:1.2`,
 * `busybox@sha256:…`), or `undefined` if it is. Never throws.
 */
export function imageReferenceProblem(image: string): string | undefined {
  if (image === '') return 'must not be empty';
  // Name, tag and the longest digest (sha512) fit in far less; a longer string is not parsed at all.
  if (image.length > MAX_IMAGE_REFERENCE_LENGTH) return `must be at most ${MAX_IMAGE_REFERENCE_LENGTH} characters, got ${image.length}: ${JSON.stringify(image.slice(0, 80))}…`;
  const m = REFERENCE.exec(image);
  if (m === null) {
    const repository = image.split('@')[0].replace(/:[\w][\w.-]*$/, '');
    const path = repository.includes('/') ? repository.slice(repository.indexOf('/') + 1) : repository;
    if (/[A-Z]/.test(path)) return `invalid image reference ${JSON.stringify(image)}: repository names must be lowercase`;
    if (/\s/.test(image)) return `invalid image reference ${JSON.stringify(image)}: must not contain whitespace`;
    return `invalid image reference ${JSON.stringify(image)}: expected [registry[:port]/]name[:tag][@algorithm:digest]`;
  }
  if (m[1].length > MAX_IMAGE_NAME_LENGTH) {
    return `invalid image reference ${JSON.stringify(image.slice(0, 80))}…: repository name longer than ${MAX_IMAGE_NAME_LENGTH} characters`;
  }
  return undefined;
}
