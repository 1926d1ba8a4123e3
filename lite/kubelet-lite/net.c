/* SPDX-License-Identifier: Apache-2.0 */
/* A pod's network: a namespace of its own (/var/run/netns/kl-UID8), a veth
 * pair whose other end is on the node's pod bridge, and an address from the
 * node's pool recorded in STATE/ips/ADDRESS (host-local IPAM, as the CNI bridge
 * plugin does). Done with iproute2's `ip`. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kubelet.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/util.h"

char *net_ns_name(const char *uid)
{
  char s[9];
  int n = 0;
  for (const char *p = uid; *p && n < 8; p++)
    if (*p != '-')
      s[n++] = *p;
  s[n] = '\0';
  return ferry_asprintf("kl-%s", s);
}

static int ip_cmd(ferry_error *err, const char *const *argv)
{
  struct ferry_proc_opts o = FERRY_PROC_OPTS_INIT;
  struct ferry_proc_result r;
  o.argv = argv;
  o.timeout_ms = 10000;
  if (ferry_proc_run(&o, &r, err) < 0)
    return -1;
  int rc = 0;
  if (!ferry_proc_ok(&r)) {
    char why[64];
    char *cmd = ferry_proc_cmdline(argv);
    rc = ferry_error_set(err, EIO, "%s: %s: %s", cmd, ferry_proc_describe(&r, &o, why, sizeof why), r.errout);
    free(cmd);
  }
  ferry_proc_result_free(&r);
  return rc;
}

int net_ip_of(const struct kubelet_cfg *cfg, const char *uid, char *ip, size_t iplen)
{
  for (uint32_t a = cfg->pool_first; a <= cfg->pool_last; a++) {
    struct in_addr in = { htonl(a) };
    char *path = ferry_asprintf("%s/ips/%s", cfg->state_dir, inet_ntoa(in)), *owner = NULL;
    size_t len;
    ferry_error err = FERRY_ERROR_INIT;
    int mine = ferry_read_file(path, &owner, &len, &err) == 0 && !strcmp(owner, uid);
    ferry_error_clear(&err);
    free(owner);
    free(path);
    if (mine) {
      snprintf(ip, iplen, "%s", inet_ntoa(in));
      return 0;
    }
  }
  return -1;
}

/* The pod's address: the one it has, or the next free one after the last
 * handed out (as host-local IPAM does: a released address is not reused at
 * once, while its old owner's MAC may still sit in its peers' ARP caches). */
static int allocate(const struct kubelet_cfg *cfg, const char *uid, char *ip, size_t iplen, ferry_error *err)
{
  if (net_ip_of(cfg, uid, ip, iplen) == 0)
    return 0;
  char *dir = ferry_path_join(cfg->state_dir, "ips"), *lastp = ferry_path_join(dir, "last"), *text = NULL;
  int rc = ferry_mkdir_p(dir, 0700, err);
  uint32_t n = cfg->pool_last - cfg->pool_first + 1, start = 0;
  size_t len;
  ferry_error e2 = FERRY_ERROR_INIT;
  struct in_addr last;
  if (ferry_read_file(lastp, &text, &len, &e2) == 0 && inet_pton(AF_INET, text, &last) == 1 &&
      ntohl(last.s_addr) >= cfg->pool_first && ntohl(last.s_addr) <= cfg->pool_last)
    start = ntohl(last.s_addr) - cfg->pool_first + 1;
  ferry_error_clear(&e2);
  free(text);
  for (uint32_t i = 0; rc == 0 && i < n; i++) {
    struct in_addr in = { htonl(cfg->pool_first + (start + i) % n) };
    char addr[INET_ADDRSTRLEN];
    snprintf(addr, sizeof addr, "%s", inet_ntoa(in));
    char *path = ferry_path_join(dir, addr);
    int taken = ferry_path_exists(path);
    if (!taken && ferry_write_file(path, uid, strlen(uid), err) == 0) {
      snprintf(ip, iplen, "%s", addr);
      free(path);
      rc = ferry_write_file_atomic(lastp, addr, strlen(addr), err);
      free(lastp);
      free(dir);
      return rc;
    }
    free(path);
  }
  free(lastp);
  free(dir);
  return rc < 0 ? -1 : ferry_error_set(err, ENOSPC, "no free pod address on this node");
}

static void release(const struct kubelet_cfg *cfg, const char *uid)
{
  char ip[INET_ADDRSTRLEN];
  if (net_ip_of(cfg, uid, ip, sizeof ip) == 0) {
    char *path = ferry_asprintf("%s/ips/%s", cfg->state_dir, ip);
    if (unlink(path) < 0 && errno != ENOENT)
      log_warn("releasing %s: %s", path, strerror(errno));
    free(path);
  }
}

int net_setup(const struct kubelet_cfg *cfg, const char *uid, char *ip, size_t iplen, ferry_error *err)
{
  char *ns = net_ns_name(uid), *nspath = ferry_asprintf("/var/run/netns/%s", ns);
  char veth[16], addr[64];
  snprintf(veth, sizeof veth, "v%s", ns + 3);
  int rc = allocate(cfg, uid, ip, iplen, err);
  if (rc == 0 && !ferry_path_exists(nspath)) {
    snprintf(addr, sizeof addr, "%s/%d", ip, cfg->prefix_len);
    const char *add[] = { "ip", "netns", "add", ns, NULL };
    const char *link[] = { "ip",   "-n",   cfg->bridge_netns, "link", "add", veth, "type", "veth", "peer",
                           "name", "eth0", "netns",           ns,     NULL };
    const char *master[] = { "ip", "-n", cfg->bridge_netns, "link", "set", veth, "master", cfg->bridge, "up", NULL };
    const char *lo[] = { "ip", "-n", ns, "link", "set", "lo", "up", NULL };
    const char *a[] = { "ip", "-n", ns, "addr", "add", addr, "dev", "eth0", NULL };
    const char *up[] = { "ip", "-n", ns, "link", "set", "eth0", "up", NULL };
    rc = ip_cmd(err, add);
    if (rc == 0 && (ip_cmd(err, link) < 0 || ip_cmd(err, master) < 0 || ip_cmd(err, lo) < 0 || ip_cmd(err, a) < 0 ||
                    ip_cmd(err, up) < 0)) {
      rc = -1;
      net_teardown(cfg, uid);
    }
  }
  free(ns);
  free(nspath);
  return rc;
}

void net_teardown(const struct kubelet_cfg *cfg, const char *uid)
{
  char *ns = net_ns_name(uid), *nspath = ferry_asprintf("/var/run/netns/%s", ns);
  if (ferry_path_exists(nspath)) { /* the veth pair goes with the namespace */
    const char *del[] = { "ip", "netns", "del", ns, NULL };
    ferry_error err = FERRY_ERROR_INIT;
    if (ip_cmd(&err, del) < 0)
      log_warn("pod network %s: %s", ns, ferry_error_msg(&err));
    ferry_error_clear(&err);
  }
  release(cfg, uid);
  free(ns);
  free(nspath);
}
