import { reportedExitCode, terminalStatus } from '../../../src/agent/task-mapping';

/** How a container's end becomes the terminal status: state, source and container_status.exit_code. */
describe('terminalStatus', () => {
  it('reports the exit status, or 128 + the signal, and who speaks', () => {
    expect(terminalStatus({ reason: 'EXITED', exitCode: 0, message: '' }, false)).toMatchObject({ state: 'TASK_FINISHED', source: 'SOURCE_EXECUTOR', container_status: { exit_code: 0 } });
    expect(terminalStatus({ reason: 'EXITED', exitCode: 3, message: '' }, false)).toMatchObject({ state: 'TASK_FAILED', source: 'SOURCE_EXECUTOR', container_status: { exit_code: 3 } });
    expect(terminalStatus({ reason: 'EXITED', signal: 'SIGSEGV', message: '' }, false)).toMatchObject({ state: 'TASK_FAILED', message: 'Command terminated by signal SIGSEGV', container_status: { exit_code: 139 } });
    expect(terminalStatus({ reason: 'KILLED', signal: 'SIGTERM', message: 'killed' }, true)).toMatchObject({ state: 'TASK_KILLED', source: 'SOURCE_EXECUTOR', container_status: { exit_code: 143 } });
    expect(terminalStatus({ reason: 'MAX_COMPLETION_TIME_REACHED', signal: 'SIGKILL', message: '' }, false)).toMatchObject({ source: 'SOURCE_EXECUTOR', container_status: { exit_code: 137 } });
    expect(terminalStatus({ reason: 'OOM', exitCode: 137, message: '' }, false)).toMatchObject({ reason: 'REASON_CONTAINER_LIMITATION_MEMORY', source: 'SOURCE_AGENT', container_status: { exit_code: 137 } });
    const launchFailed = terminalStatus({ reason: 'LAUNCH_FAILED', message: 'launch failed: no such image' }, false);
    expect([launchFailed.source, launchFailed.container_status]).toEqual(['SOURCE_AGENT', undefined]);
  });

  it('has no exit code when the end was not seen', () => {
    expect(reportedExitCode({ reason: 'EXITED', message: 'the task ended while the agent was not watching; exit code unknown' })).toBeUndefined();
    expect(terminalStatus({ reason: 'EXITED', message: 'unknown' }, false).container_status).toBeUndefined();
  });
});
