/* `ferry-agent daemon`: the node side of PodMigrations. Watches the ones whose
 * source or target is this node and does this node's part with the engine,
 * each step in a child process (`ferry-agent --json checkpoint|restore`) whose
 * answer is kept in STATE_DIR/ops, so a restarted daemon finds out how a step
 * it started ended. Renews the node's agent Lease with its load, and serves
 * /healthz, /readyz and /metrics. */
#ifndef FERRY_AGENT_DAEMON_H
#define FERRY_AGENT_DAEMON_H

struct daemon_globals {
  const char *criu, *runc, *work_dir, *node;
};

int agent_daemon(const struct daemon_globals *g, int argc, char **argv);

#endif
