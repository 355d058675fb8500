/**
 * The framework host (`berth frameworks`, and the frameworks half of `berth dev`): runs built-in and
 * third-party framework plugins side by side, each with a {@link SchedulerDriver} of its own, its own
 * framework id and its own slice of the store, and serves the gRPC APIs the plugins offer (e.g.
 * `berth.v1.Services`, `berth.v1.Jobs`) on one port.
 *
 * A plugin is isolated from the others: one whose factory throws, or whose handlers keep failing
 * ({@link HANDLER_FAILURES_BEFORE_RESTART} in a row), is stopped and created again with backoff
 * (1 s doubling to 60 s) — its framework id and state are kept, so it fails over to itself. The other
 * plugins carry on. While a plugin is being restarted its gRPC API answers UNAVAILABLE.
 *
 * What restarting cannot fix stops {@link FrameworkHost.start} with a ConfigError (the daemon exits
 * 78): a plugin module that cannot be found or exports no factory, and a plugin whose factory refuses
 * its options (a ValidationError) the first time it is created.
 */
import { Authorizer, type AccessPolicy, type CallerAuthenticator } from '../../common/auth';
import { ConfigError } from '../../common/config';
import { isValidationError } from '../../common/wire/problems';
import { callCertificatePrincipal, serverCredentials, type TlsMaterial } from '../../common/tls';
import { attachCallAccess } from '../sdk/access';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Clock, TimerHandle } from '../../common/clock';
import { nullLogger, type Logger } from '../../common/logging';
import type { GrpcServiceBinding } from '../../common/rpc/proto';
import { serviceName } from '../../common/rpc/proto';
import { startGrpcServer, type GrpcServerHandle } from '../../common/rpc/server';
import { SchedulerDriver } from '../sdk/driver';
import type { Framework, FrameworkContext, PluginFactory, SchedulerApi } from '../sdk/framework';
import type { KeyValueStore } from '../sdk/store';
import { FrameworkHostMetrics } from './host-metrics';

/** Handler failures in a row after which a plugin is restarted. */
export const HANDLER_FAILURES_BEFORE_RESTART = 5;

/** The plugins that ship with Berth, by name. */
export const BUILT_IN_PLUGINS: Readonly<Record<string, string>> = {
  services: path.join(__dirname, '..', 'services', 'index'),
  jobs: path.join(__dirname, '..', 'jobs', 'index'),
  batch: path.join(__dirname, '..', 'batch', 'index'),
};

/** One plugin to run. */
export interface PluginSpec {
  /** Unique name: its store prefix and log component (`services`, `jobs`, `my-plugin`). */
  readonly name: string;
  /** A built-in name, a module path (relative to the working directory) or a package name. */
  readonly module: string;
  readonly options?: Readonly<Record<string, unknown>>;
  /**
   * The plugin's own bearer token toward the masters, so that each plugin is its own principal (its
   * own ACLs, quota and roles there). @default the host's `token`
   */
  readonly token?: string;
}

export interface FrameworkHostOptions {
  /** Master gRPC addresses. */
  readonly masters: readonly string[];
  readonly token?: string;
  readonly plugins: readonly PluginSpec[];
  /** The host's store; each plugin sees the keys under `plugins/<name>/` as its own. */
  readonly store: KeyValueStore;
  readonly clock: Clock;
  readonly logger?: Logger;
  /** Where the plugins' gRPC APIs are served; undefined: not served (tests, embedding). */
  readonly grpc?: { readonly host: string; readonly port: number };
  /** Transport security of the plugins' APIs, and to the masters. @default plaintext */
  readonly tls?: { readonly server?: TlsMaterial; readonly client?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string } };
  /**
   * Who calls the plugins' APIs: the same tokens (and client certificates) as the master. Undefined:
   * no authentication (configured so explicitly, as `berth dev` does).
   */
  readonly authenticator?: CallerAuthenticator;
  /** What they may do (ACL actions view_app, manage_app, view_job, manage_job). @default every rule-less action denied but viewing */
  readonly authorizer?: AccessPolicy;
  /** First restart delay of a failing plugin. @default 1000 */
  readonly restartMinMs?: number;
  /** Cap of the restart delay. @default 60_000 */
  readonly restartMaxMs?: number;
  /** Re-dial backoff of the drivers. @default the driver's */
  readonly driverBackoffMinMs?: number;
  /** The host's and the plugins' metrics (served at the host's /metrics). @default a registry of its own, without process metrics */
  readonly metrics?: FrameworkHostMetrics;
}

interface Running {
  readonly spec: PluginSpec;
  factory: PluginFactory | undefined;
  framework: Framework | undefined;
  driver: SchedulerDriver | undefined;
  /** Bumped at each (re)start: errors of an older instance (events it still handles) are ignored. */
  generation: number;
  /** Being stopped for a restart, or waiting for it. */
  restarting: boolean;
  failures: number;
  restartDelayMs: number;
  restartTimer: TimerHandle | undefined;
  /** gRPC implementations of the current instance, by service name. */
  services: Map<string, Record<string, unknown>>;
  /** The framework tore itself down (`scheduler.teardown()`): stopped for good, never restarted. */
  tornDown: boolean;
}

/** A plugin's slice of the host's store. */
class PrefixedStore implements KeyValueStore {
  constructor(
    private readonly inner: KeyValueStore,
    private readonly prefix: string,
  ) {}

  get<T>(key: string): Promise<T | undefined> {
    return this.inner.get<T>(this.prefix + key);
  }

  put(key: string, value: unknown): Promise<void> {
    return this.inner.put(this.prefix + key, value);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(this.prefix + key);
  }

  async list<T>(prefix: string): Promise<{ key: string; value: T }[]> {
    return (await this.inner.list<T>(this.prefix + prefix)).map((e) => ({ key: e.key.slice(this.prefix.length), value: e.value }));
  }
}

/**
 * Resolves a plugin module to its factory (`createFramework`, or the default export).
 * @throws ConfigError when the module is not found or exports no factory; what the module throws as
 *   it loads (a bug in it) passes as it is.
 */
export function loadPlugin(module: string): PluginFactory {
  const file = BUILT_IN_PLUGINS[module] ?? (module.startsWith('.') || path.isAbsolute(module) ? path.resolve(module) : module);
  const problem = (why: string) => new ConfigError([{ path: 'plugins', message: `plugins: plugin ${JSON.stringify(module)} ${why}` }]);
  let mod: { createFramework?: unknown; default?: unknown };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(file) as typeof mod;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // Only the plugin itself missing is a configuration error, not a module it requires.
    if (e.code === 'MODULE_NOT_FOUND' && e.message.split('\n')[0]!.includes(`'${file}'`)) throw problem(`cannot be loaded: no module ${file}`);
    throw err;
  }
  const factory = mod.createFramework ?? mod.default;
  if (typeof factory !== 'function') throw problem(`(${file}) exports no createFramework function (nor a default export)`);
  return factory as PluginFactory;
}

export class FrameworkHost {
  private readonly logger: Logger;
  private readonly plugins: Running[] = [];
  private server: GrpcServerHandle | undefined;
  /** Which plugin serves each gRPC service. */
  private readonly served = new Map<string, Running>();
  private stopped = false;
  private started = false;
  /** Decides the calls to the plugins' APIs (no ACLs file: only viewing is allowed). */
  private readonly apiAuthorizer: AccessPolicy;
  /** The host's and its plugins' metrics. */
  readonly metrics: FrameworkHostMetrics;

  constructor(private readonly options: FrameworkHostOptions) {
    this.logger = (options.logger ?? nullLogger).child({ component: 'framework-host' });
    this.metrics = options.metrics ?? new FrameworkHostMetrics({ processMetrics: false });
    this.apiAuthorizer = options.authorizer ?? new Authorizer([]);
    const names = new Set<string>();
    for (const p of options.plugins) {
      if (!/^[a-z0-9][a-z0-9-]*$/.test(p.name)) throw new Error(`plugin name must be lowercase letters, digits and dashes, got "${p.name}"`);
      if (names.has(p.name)) throw new Error(`plugin "${p.name}" is given twice`);
      names.add(p.name);
    }
  }

  /** The address of the plugins' gRPC APIs, once started with `grpc`. */
  get grpcAddress(): string | undefined {
    return this.server?.address;
  }

  /** What the host's `/health/ready` says: ready once started (its APIs served), until stopped. */
  readiness(): { ready: boolean; reason?: string } {
    if (this.stopped) return { ready: false, reason: 'stopping' };
    return this.started ? { ready: true } : { ready: false, reason: 'starting its plugins' };
  }

  /** The driver of a plugin (for tests and `berth dev`'s status line). */
  driver(name: string): SchedulerDriver | undefined {
    return this.plugins.find((p) => p.spec.name === name)?.driver;
  }

  /** The current framework instance of a plugin. */
  framework(name: string): Framework | undefined {
    return this.plugins.find((p) => p.spec.name === name)?.framework;
  }

  /**
   * Loads every plugin (a module that cannot be loaded fails the start: a typo should not pass
   * silently), starts each, then serves their gRPC APIs.
   */
  async start(): Promise<void> {
    for (const spec of this.options.plugins) {
      this.plugins.push({ spec, factory: loadPlugin(spec.module), framework: undefined, driver: undefined, generation: 0, restarting: false, failures: 0, restartDelayMs: this.options.restartMinMs ?? 1000, restartTimer: undefined, services: new Map(), tornDown: false });
    }
    for (const p of this.plugins) await this.launch(p, true);
    if (this.options.grpc !== undefined) {
      this.server = await startGrpcServer({ host: this.options.grpc.host, port: this.options.grpc.port, services: [], credentials: serverCredentials(this.options.tls?.server) });
      for (const p of this.plugins) this.serve(p);
      this.logger.info('framework APIs served', { address: this.server.address, services: [...this.served.keys()] });
    }
    this.started = true;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.server?.shutdown(1000);
    for (const p of this.plugins) {
      this.options.clock.clearTimeout(p.restartTimer);
      await this.halt(p);
    }
  }

  // ---- one plugin ----

  /**
   * Points the plugin's gRPC services at its current instance; a service seen for the first time (a
   * plugin whose first start failed) is added to the server then.
   */
  private serve(p: Running): void {
    const list = p.framework?.grpcServices?.() ?? [];
    p.services = new Map(list.map((b) => [serviceName(b.definition), b.implementation as Record<string, unknown>]));
    if (this.server === undefined) return;
    for (const b of list) {
      const name = serviceName(b.definition);
      const owner = this.served.get(name);
      if (owner === p) continue;
      if (owner !== undefined) {
        this.logger.error('two plugins serve the same API: the first one keeps it', { service: name, plugin: p.spec.name, servedBy: owner.spec.name });
        continue;
      }
      const binding = this.forwarding(p, name, b);
      this.server.addService(binding); // served, health SERVING, and listed by reflection
      this.served.set(name, p);
    }
  }

  /** A binding whose methods call the plugin's current instance (it may have been restarted). */
  private forwarding(p: Running, name: string, b: GrpcServiceBinding): GrpcServiceBinding {
    const implementation: Record<string, unknown> = {};
    for (const method of Object.keys(b.definition)) {
      implementation[method] = (call: unknown, callback: unknown) => {
        const authenticator = this.options.authenticator;
        if (authenticator !== undefined) {
          const c = call as grpc.ServerUnaryCall<unknown, unknown>;
          const principal = authenticator.authenticate(c.metadata, callCertificatePrincipal(c as never));
          if (principal === undefined) {
            refuse(call, callback, { code: grpc.status.UNAUTHENTICATED, details: 'authentication required: send "authorization: Bearer <token>" (berth --token, BERTH_TOKEN) or a client certificate' });
            return undefined;
          }
          attachCallAccess(c, principal.name, (action, object) => this.apiAuthorizer.allowed(principal, action, object));
        }
        const fn = p.services.get(name)?.[method];
        if (typeof fn !== 'function') {
          (callback as grpc.sendUnaryData<unknown>)({ code: grpc.status.UNAVAILABLE, details: `plugin ${p.spec.name} is restarting; retry shortly` });
          return;
        }
        try {
          const r = (fn as (...a: unknown[]) => unknown)(call, callback);
          // An async handler that rejects must not become an unhandled rejection of the whole host.
          if (r !== null && typeof r === 'object' && typeof (r as Promise<unknown>).catch === 'function') {
            (r as Promise<unknown>).catch((err: unknown) => (callback as grpc.sendUnaryData<unknown>)({ code: grpc.status.INTERNAL, details: `plugin ${p.spec.name}: ${(err as Error).message}` }));
          }
          return r;
        } catch (err) {
          (callback as grpc.sendUnaryData<unknown>)({ code: grpc.status.INTERNAL, details: `plugin ${p.spec.name}: ${(err as Error).message}` });
          return undefined;
        }
      };
    }
    return { definition: b.definition, implementation } as GrpcServiceBinding;
  }

  /** Creates and starts the plugin; `first`: during {@link start}, where refused options are a ConfigError. */
  private async launch(p: Running, first = false): Promise<void> {
    if (this.stopped || p.tornDown) return;
    const generation = ++p.generation;
    p.restarting = false;
    const logger = this.logger.child({ plugin: p.spec.name });
    // The driver does not exist before the framework: the context's scheduler forwards to it.
    const scheduler = forwardingScheduler(() => p.driver, () => this.tornDown(p, generation));
    const token = p.spec.token ?? this.options.token;
    const principal = token === undefined ? undefined : this.options.authenticator?.authenticate({ authorization: `Bearer ${token}` })?.name;
    const context: FrameworkContext = {
      clock: this.options.clock,
      logger,
      store: new PrefixedStore(this.options.store, `plugins/${p.spec.name}/`),
      scheduler,
      options: p.spec.options ?? {},
      metrics: this.metrics.forPlugin(p.spec.name),
      ...(principal !== undefined ? { principal } : {}),
    };
    try {
      const framework = await p.factory!(context);
      if (this.stopped || generation !== p.generation) {
        await framework.stop?.();
        return;
      }
      p.framework = guard(framework, (err) => this.onHandlerError(p, generation, err), () => {
        if (generation === p.generation) p.failures = 0;
      });
      p.driver = new SchedulerDriver({
        masters: this.options.masters,
        framework: p.framework,
        clock: this.options.clock,
        store: context.store,
        token,
        ...(this.options.tls?.client !== undefined ? { tls: this.options.tls.client } : {}),
        backoffMinMs: this.options.driverBackoffMinMs,
        logger,
      });
      await p.driver.start();
      p.restartDelayMs = this.options.restartMinMs ?? 1000;
      this.metrics.pluginUp.set({ plugin: p.spec.name }, 1);
      logger.info('plugin started', { module: p.spec.module });
    } catch (err) {
      if (first && p.framework === undefined && isValidationError(err)) {
        await this.halt(p);
        const at = `pluginOptions.${p.spec.name}`;
        throw new ConfigError(err.problems.map((x) => ({ path: at, message: `${at}: plugin ${JSON.stringify(p.spec.name)} refuses its options: ${x.field === '' ? '' : `${x.field}: `}${x.message}` })));
      }
      logger.error('plugin failed to start', { err });
      p.restarting = true;
      await this.halt(p);
      this.scheduleRestart(p);
    }
  }

  private onHandlerError(p: Running, generation: number, err: unknown): void {
    // Errors of an instance being replaced (events still in its queue) do not count.
    if (generation !== p.generation || p.restarting || this.stopped) return;
    this.metrics.handlerFailures.inc({ plugin: p.spec.name });
    p.failures++;
    if (p.failures < HANDLER_FAILURES_BEFORE_RESTART) return;
    p.restarting = true;
    this.logger.error('plugin keeps failing: restarting it', { plugin: p.spec.name, failures: p.failures, err });
    void this.halt(p).then(() => this.scheduleRestart(p));
  }

  /** The plugin's framework tore itself down: its driver has stopped; stop the plugin, for good. */
  private tornDown(p: Running, generation: number): void {
    if (generation !== p.generation) return;
    p.tornDown = true;
    this.options.clock.clearTimeout(p.restartTimer);
    this.logger.warn('plugin tore its framework down: the master removed it and its tasks; the plugin stays stopped', { plugin: p.spec.name });
    // Not awaited: teardown may be called from one of the framework's handlers, which the stop waits for.
    void this.halt(p);
  }

  private scheduleRestart(p: Running): void {
    if (this.stopped || p.tornDown) return;
    const delay = p.restartDelayMs;
    p.restartDelayMs = Math.min(delay * 2, this.options.restartMaxMs ?? 60_000);
    this.logger.warn('plugin restart scheduled', { plugin: p.spec.name, inMs: delay });
    this.metrics.pluginRestarts.inc({ plugin: p.spec.name });
    p.restartTimer = this.options.clock.setTimeout(() => {
      p.restartTimer = undefined;
      p.failures = 0;
      void this.launch(p).then(() => this.serve(p));
    }, delay);
  }

  /**
   * Stops a plugin: first the framework, while its driver is still connected, so what it sends from
   * `stop()` (kills, declines) reaches the master; then the driver, which ends the stream only
   * after the master has taken those calls.
   */
  private async halt(p: Running): Promise<void> {
    p.services = new Map();
    this.metrics.pluginUp.set({ plugin: p.spec.name }, 0);
    const driver = p.driver;
    const framework = p.framework;
    p.framework = undefined;
    try {
      await framework?.stop?.();
    } catch (err) {
      this.logger.warn('plugin stop failed', { plugin: p.spec.name, err });
    }
    if (p.driver === driver) p.driver = undefined;
    await driver?.stop();
  }
}

/**
 * Wraps the framework's handlers so a throw is reported to the host (and still rethrown, so the driver
 * does not acknowledge a failed update); a success resets the failure count.
 */
function guard(framework: Framework, onError: (err: unknown) => void, onSuccess: () => void): Framework {
  const wrap = <A extends unknown[]>(fn: ((...a: A) => unknown) | undefined) =>
    fn === undefined ? undefined : async (...a: A) => {
      try {
        const r = await fn.apply(framework, a);
        onSuccess();
        return r;
      } catch (err) {
        onError(err);
        throw err;
      }
    };
  return {
    frameworkInfo: () => framework.frameworkInfo(),
    registered: wrap(framework.registered),
    offers: wrap(framework.offers)!,
    rescinded: wrap(framework.rescinded),
    gangOffers: wrap(framework.gangOffers),
    gangRescinded: wrap(framework.gangRescinded),
    statusUpdate: wrap(framework.statusUpdate)!,
    agentLost: wrap(framework.agentLost),
    disconnected: wrap(framework.disconnected),
    error: wrap(framework.error),
    grpcServices: framework.grpcServices?.bind(framework),
    stop: framework.stop?.bind(framework),
  } as Framework;
}

/**
 * A SchedulerApi that forwards to the plugin's current driver (calls while there is none are
 * dropped; `teardown` then rejects); `onTornDown` runs after a teardown went out.
 */
function forwardingScheduler(current: () => SchedulerDriver | undefined, onTornDown: () => void): SchedulerApi {
  const call = <K extends keyof SchedulerApi>(name: K) =>
    (...args: unknown[]) => {
      const d = current();
      if (d === undefined) return;
      return (d[name] as (...a: unknown[]) => unknown).apply(d, args);
    };
  return {
    get frameworkId() {
      return current()?.frameworkId;
    },
    get connected() {
      return current()?.connected ?? false;
    },
    accept: call('accept'),
    launch: call('launch'),
    decline: call('decline'),
    acceptGang: call('acceptGang'),
    launchGang: call('launchGang'),
    declineGang: call('declineGang'),
    kill: call('kill'),
    revive: call('revive'),
    suppress: call('suppress'),
    reconcile: call('reconcile'),
    updateFramework: call('updateFramework'),
    teardown: async () => {
      const d = current();
      if (d === undefined) throw new Error('teardown: the plugin has no driver (it is stopped or restarting)');
      await d.teardown();
      onTornDown();
    },
  } as SchedulerApi;
}

/** Ends a call of any kind (unary answers through its callback; streams with an error) with `status`. */
function refuse(call: unknown, callback: unknown, status: Partial<grpc.StatusObject>): void {
  if (typeof callback === 'function') (callback as grpc.sendUnaryData<unknown>)(status);
  else (call as { emit(event: 'error', err: unknown): void }).emit('error', status);
}
