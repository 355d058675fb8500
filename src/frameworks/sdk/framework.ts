/**
 * What a framework plugin implements, and what it gets to talk to the master with.
 *
 * A plugin module exports `createFramework(context)` returning a {@link Framework}. The
 * {@link SchedulerDriver} (or the framework host, `berth frameworks`) owns the connection: it
 * subscribes with the framework's {@link FrameworkInfo}, fails over with the stored framework id,
 * follows the leading master, reconnects with backoff, reconciles after every (re)subscription, and
 * acknowledges each status update once `statusUpdate` has returned (or its promise resolved) — so a
 * framework that crashes while handling an update gets it again.
 *
 * Handlers are called one at a time, in event order (the next waits for the previous promise), so a
 * framework never handles two events concurrently. A handler that throws is logged; for
 * `statusUpdate` the update is then NOT acknowledged (the master resends it after a reconnect).
 */
import type { Clock } from '../../common/clock';
import type { Logger } from '../../common/logging';
import type { GrpcServiceBinding } from '../../common/rpc/proto';
import type { FrameworkInfo } from '../../generated/berth/v1/FrameworkInfo';
import type { Offer__Output } from '../../generated/berth/v1/Offer';
import type { Operation } from '../../generated/berth/v1/Operation';
import type { TaskInfo } from '../../generated/berth/v1/TaskInfo';
import type { TaskStatus__Output } from '../../generated/berth/v1/TaskStatus';
import type { GangLaunch, GangOffer, GangTaskBuilder } from './gangs';
import type { TaskShape } from './offer-match';
import type { KeyValueStore } from './store';
import type { PluginMetrics } from './metrics';

/**
 * Filters sent with ACCEPT and DECLINE (proto `Filters`). `refuseSeconds`: how long the declined
 * (or unused) resources of the offers' agent are not offered to this framework again; absent: 5;
 * 0: again at the master's next allocation batch.
 */
export interface OfferFilters {
  readonly refuseSeconds?: number;
}

/** Filters as the calls take them: an {@link OfferFilters}, or (the older form) `refuseSeconds` alone. */
export type FiltersArg = OfferFilters | number;

/**
 * Calls a framework makes to the master. All but `teardown` are fire-and-forget (the master
 * answers with events); calls made while not subscribed are dropped (logged).
 */
export interface SchedulerApi {
  /** The framework id once subscribed (stable across reconnects and restarts). */
  readonly frameworkId: string | undefined;
  /** Whether the stream is subscribed now (calls made while not are dropped with a log line). */
  readonly connected: boolean;
  /**
   * Launches tasks (and other operations) on the resources of these offers (all of one agent); what
   * they leave unused is declined with `filters` (e.g. `{ refuseSeconds: 60 }`; default 5 s).
   */
  accept(offerIds: readonly string[], operations: readonly Operation[], filters?: FiltersArg): void;
  /** Launches `tasks` on one offer; the offer's unused resources are declined with `filters`. */
  launch(offer: Offer__Output, tasks: readonly TaskInfo[], filters?: FiltersArg): void;
  /** Declines offers; their agents' resources are not offered again for `refuseSeconds` (default 5). */
  decline(offerIds: readonly string[], filters?: FiltersArg): void;
  /**
   * ACCEPT_GANG: launches every task of a gang offer or none. `launches` must cover every offer of
   * the gang once (an offer with no tasks is given back); the master refuses a partial or invalid
   * one as a whole (the `error` handler hears why; the gang stays offered until its hold ends).
   */
  acceptGang(gangId: string, launches: readonly GangLaunch[], filters?: FiltersArg): void;
  /**
   * Launches a one-shape gang in one call: places `gang.tasks` tasks of `shape` on the gang's
   * offers (`planGang`), builds each with `build(index, offer, fit)` and sends ACCEPT_GANG.
   * Throws (sending nothing) when they do not all fit.
   */
  launchGang(gang: GangOffer, shape: TaskShape, build: GangTaskBuilder, filters?: FiltersArg): void;
  /** Declines a gang offer whole; it is not offered again for `refuseSeconds` (default 5). */
  declineGang(gangId: string, filters?: FiltersArg): void;
  /** Kills a task; `gracePeriodMs` overrides the task's kill policy. */
  kill(taskId: string, agentId?: string, gracePeriodMs?: number): void;
  /** Asks for offers again (clears decline filters); no roles: all of the framework's roles. */
  revive(roles?: readonly string[]): void;
  /** Stops offers (until `revive`); no roles: all of the framework's roles. */
  suppress(roles?: readonly string[]): void;
  /** Asks for the state of these tasks (empty: every task the master knows of this framework). */
  reconcile(tasks: readonly { readonly taskId: string; readonly agentId?: string }[]): void;
  /** Changes the FrameworkInfo (roles, demand, capabilities…); sent now and on every re-subscription. */
  updateFramework(info: Partial<FrameworkInfo>): void;
  /**
   * Ends this framework for good (scheduler.proto TEARDOWN): the master kills all its tasks and
   * removes it; its stored framework id is forgotten and the driver stops. Under the framework host
   * the plugin is then stopped (`stop()` is called) and not restarted. Rejects, changing nothing,
   * when not subscribed (call it again after `registered`).
   */
  teardown(): Promise<void>;
}

/** Given to {@link PluginFactory}: the plugin's environment. */
export interface FrameworkContext {
  readonly clock: Clock;
  readonly logger: Logger;
  /** The plugin's own persistent state (keys are private to this plugin). */
  readonly store: KeyValueStore;
  /** Talks to the master; usable once `registered` has been called. */
  readonly scheduler: SchedulerApi;
  /** Plugin options from the host's configuration (`frameworks.<name>.options`), as given. */
  readonly options: Readonly<Record<string, unknown>>;
  /**
   * The plugin's own metrics, exported at the host's `/metrics` as `berth_plugin_<name>_*`
   * (./metrics.ts). The framework host always gives them; the field is optional only so that a
   * context built by hand (a plugin's tests, written before it existed) stays valid — such code
   * passes `new PluginMetricsRegistry(name)` to see them.
   */
  readonly metrics?: PluginMetrics;
  /**
   * The principal this plugin subscribes as: the name its token (`pluginTokenFiles.<name>`, else the
   * host's token) has in the host's tokens file. Undefined when the host runs without authentication
   * or the token is not in its file (the master still decides who it is).
   */
  readonly principal?: string;
}

/** How a subscription went. */
export interface Registration {
  readonly frameworkId: string;
  /** True when this is a re-subscription (failover or reconnect) of an existing framework id. */
  readonly reregistered: boolean;
  /** The master that accepted it, `host:port`. */
  readonly master: string;
}

/** A framework plugin. Only `offers` and `statusUpdate` are required. */
export interface Framework {
  /** The FrameworkInfo to subscribe with (name, roles, capabilities, failover_timeout…). */
  frameworkInfo(): Partial<FrameworkInfo> & { readonly name: string };
  /**
   * Subscribed (first time or again). The driver has already sent an implicit reconciliation; a
   * framework that tracks tasks should also reconcile explicitly (see `reconcile`).
   */
  registered?(registration: Registration): void | Promise<void>;
  /** New offers. Each must be accepted or declined, or it is held until rescinded. */
  offers(offers: readonly Offer__Output[]): void | Promise<void>;
  /** An offer is no longer valid (agent gone, offer timeout). */
  rescinded?(offerId: string): void | Promise<void>;
  /**
   * A gang declared in the demand was placed whole: answer with `acceptGang` (all tasks) or
   * `declineGang` before `gang.holdUntilMs`. Without this handler the driver declines gang offers.
   * Called after `offers` for the ordinary offers of the same event.
   */
  gangOffers?(gang: GangOffer): void | Promise<void>;
  /** A gang offer was withdrawn whole (`reason`: hold_expired, agent_removed, framework_disconnected…). */
  gangRescinded?(gangId: string, reason: string): void | Promise<void>;
  /** A task's state changed; acknowledged once this returns. */
  statusUpdate(status: TaskStatus__Output): void | Promise<void>;
  /** An agent was lost (only informational: its tasks' updates follow). */
  agentLost?(agentId: string): void | Promise<void>;
  /** The stream broke; the driver reconnects on its own. */
  disconnected?(): void | Promise<void>;
  /** A non-fatal error from the master about one call (e.g. an invalid ACCEPT). */
  error?(message: string): void | Promise<void>;
  /** gRPC services this framework serves (its API, e.g. berth.v1.Services), on the host's port. */
  grpcServices?(): readonly GrpcServiceBinding[];
  /**
   * Called once when the host stops (or restarts this plugin); release timers and files here. The
   * driver is still connected while it runs: calls made here (kills, declines) reach the master.
   */
  stop?(): void | Promise<void>;
}

/** What a plugin module exports (as `createFramework`, or its default export). */
export type PluginFactory = (context: FrameworkContext) => Framework | Promise<Framework>;
