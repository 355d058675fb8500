/**
 * The built-in `batch` framework as a plugin: queues with nominal quota in cohorts (borrowing,
 * reclaiming, fair share by weight) and batch jobs that run as one gang of N tasks with retries and
 * a deadline. `createFramework(context)` loads queues and jobs from `context.store` before it
 * returns. Options: {@link BatchOptions}. API: `berth.v1.Batch` (proto/berth/v1/batch.proto).
 * See docs/batch.md.
 */
import type { Framework, PluginFactory } from '../sdk/framework';
import { BatchFramework } from './batch-framework';

export { BatchFramework } from './batch-framework';
export { batchHandlers, batchService } from './api';
export { decide, dominantShare, queueUsage, type Decision, type Workload } from './admission';
export { parseBatchOptions, type BatchOptions } from './options';

/** The plugin factory: framework name `batch` (option `name`). */
export const createFramework: PluginFactory = async (context): Promise<Framework> => {
  const framework = new BatchFramework(context);
  await framework.start();
  return framework;
};

export default createFramework;
