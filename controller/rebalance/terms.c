/* SPDX-License-Identifier: Apache-2.0 */
/* Affinity terms, fast: a node label's values per node (columns), topology
 * domains per key, pods indexed by label (only the keys some selector names),
 * and one entry per distinct pod term (selector, namespaces, topology) that
 * counts its matching pods per domain and follows each planned move. A pod's
 * score on a node is then a few lookups per term; no pair of pods is ever
 * compared. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rebalance/internal.h"

#define HOSTNAME_KEY "kubernetes.io/hostname"
#define FIELD_NAME "metadata.name"
#define SEP_FIELD "\x1f"
#define SEP_ITEM "\x1e"
#define SEP_PART "\x1d"

static void *ptr_of(size_t v) { return (void *)(uintptr_t)v; }
static size_t val_of(const void *p) { return (size_t)(uintptr_t)p; }

void rb_terms_init(struct rb_ctx *c)
{
  struct rb_terms *t = &c->terms;
  memset(t, 0, sizeof *t);
  rb_map_init(&t->columns, 0);
  rb_map_init(&t->domains, 0);
  rb_map_init(&t->entries, 0);
  rb_map_init(&t->lists, 0);
  rb_map_init(&t->indexed, 0);
  rb_map_init(&t->watch, 0);
}

void rb_terms_free(struct rb_ctx *c)
{
  struct rb_terms *t = &c->terms;
  for (size_t i = 0; i < t->vecs.n; i++)
    rb_vec_free(ptr_of(t->vecs.v[i]));
  rb_vec_free(&t->vecs);
  rb_vec_free(&t->all);
  rb_vec_free(&t->generic);
  rb_vec_free(&t->anti);
  rb_map_free(&t->columns);
  rb_map_free(&t->domains);
  rb_map_free(&t->entries);
  rb_map_free(&t->lists);
  rb_map_free(&t->indexed);
  rb_map_free(&t->watch);
}

/* ---------- nodes: columns and domains ---------- */

static const char **column(struct rb_ctx *c, const char *key)
{
  int added;
  size_t *slot = rb_map_put(&c->terms.columns, key, NULL, &added);
  if (!added)
    return ptr_of(*slot);
  const char **v = rb_arena_alloc(&c->arena, (c->in->n_nodes + 1) * sizeof *v);
  *slot = val_of(v);
  for (size_t i = 0; i < c->in->n_nodes; i++)
    v[i] = rb_label_of(c->in->nodes[i].labels, c->in->nodes[i].n_labels, key);
  return v;
}

static const struct rb_domains *domains(struct rb_ctx *c, const char *key)
{
  size_t *slot = rb_map_get(&c->terms.domains, key, NULL);
  if (slot)
    return ptr_of(*slot);
  const char **col = column(c, key);
  struct rb_domains *d = rb_arena_alloc(&c->arena, sizeof *d);
  d->dom = rb_arena_alloc(&c->arena, (c->in->n_nodes + 1) * sizeof *d->dom);
  int host = !strcmp(key, HOSTNAME_KEY);
  struct rb_map ids;
  rb_map_init(&ids, c->in->n_nodes);
  for (size_t i = 0; i < c->in->n_nodes; i++) {
    const char *v = col[i] ? col[i] : host ? c->in->nodes[i].name : NULL;
    int added;
    size_t *id = v ? rb_map_put(&ids, v, NULL, &added) : NULL;
    if (id && added)
      *id = (size_t)d->n++;
    d->dom[i] = id ? (int)*id : -1;
  }
  rb_map_free(&ids);
  d->start = rb_arena_alloc(&c->arena, ((size_t)d->n + 2) * sizeof *d->start);
  d->nodes = rb_arena_alloc(&c->arena, (c->in->n_nodes + 1) * sizeof *d->nodes);
  for (size_t i = 0; i < c->in->n_nodes; i++)
    if (d->dom[i] >= 0)
      d->start[d->dom[i] + 2]++;
  for (int k = 0; k < d->n; k++)
    d->start[k + 2] += d->start[k + 1];
  for (size_t i = 0; i < c->in->n_nodes; i++)
    if (d->dom[i] >= 0)
      d->nodes[d->start[d->dom[i] + 1]++] = i;
  *rb_map_put(&c->terms.domains, key, NULL, NULL) = val_of(d);
  return d;
}

/* ---------- pods by label ---------- */

static struct rb_vec *list_in(struct rb_ctx *c, struct rb_map *m, const char *key, const char *value, int create)
{
  int added = 0;
  size_t *slot = create ? rb_map_put(m, key, value, &added) : rb_map_get(m, key, value);
  if (!slot)
    return NULL;
  if (added) {
    struct rb_vec *v = rb_arena_alloc(&c->arena, sizeof *v);
    *slot = val_of(v);
    rb_vec_push(&c->terms.vecs, val_of(v));
  }
  return ptr_of(*slot);
}

static struct rb_vec *list(struct rb_ctx *c, const char *key, const char *value, int create)
{
  return list_in(c, &c->terms.lists, key, value, create);
}

static void index_key(struct rb_ctx *c, const char *key)
{
  int added;
  rb_map_put(&c->terms.indexed, key, NULL, &added);
  if (!added)
    return;
  for (size_t q = 0; q < c->in->n_pods; q++) {
    const struct rb_pod *p = &c->in->pods[q];
    const char *v = rb_label_of(p->labels, p->n_labels, key);
    if (!v)
      continue;
    rb_vec_push(list(c, key, v, 1), q);
    rb_vec_push(list(c, key, NULL, 1), q);
  }
}

/* ---------- entries: one per distinct term ---------- */

static size_t sig_put(char *buf, size_t at, const char *s)
{
  size_t n = strlen(s ? s : "");
  if (buf)
    memcpy(buf + at, s ? s : "", n);
  return at + n;
}

static size_t sig_write(char *buf, const struct rb_pod_term *t, const char *owner_ns)
{
  size_t at = sig_put(buf, 0, t->all_namespaces ? "*" : t->n_namespaces ? "" : owner_ns);
  for (size_t i = 0; i < t->n_namespaces && !t->all_namespaces; i++) {
    at = sig_put(buf, at, SEP_FIELD);
    at = sig_put(buf, at, t->namespaces[i]);
  }
  for (size_t i = 0; i < t->sel.n; i++) {
    const struct rb_requirement *r = &t->sel.reqs[i];
    char op[4] = { SEP_ITEM[0], (char)('0' + r->op), 0, 0 };
    at = sig_put(buf, at, op);
    at = sig_put(buf, at, r->key);
    for (size_t v = 0; v < r->n_values; v++) {
      at = sig_put(buf, at, SEP_FIELD);
      at = sig_put(buf, at, r->values[v]);
    }
  }
  at = sig_put(buf, at, SEP_PART);
  return sig_put(buf, at, t->topology_key && *t->topology_key ? t->topology_key : HOSTNAME_KEY);
}

static int ns_matches(const struct rb_entry *e, const char *ns)
{
  const struct rb_pod_term *t = e->term;
  if (t->all_namespaces)
    return 1;
  if (!t->n_namespaces)
    return ns && e->owner_ns && !strcmp(ns, e->owner_ns);
  for (size_t i = 0; i < t->n_namespaces; i++)
    if (ns && t->namespaces[i] && !strcmp(ns, t->namespaces[i]))
      return 1;
  return 0;
}

static int entry_matches(const struct rb_ctx *c, const struct rb_entry *e, size_t pod)
{
  const struct rb_pod *p = &c->in->pods[pod];
  return ns_matches(e, p->ns) && rb_selector_matches(&e->term->sel, p->labels, p->n_labels);
}

static void count_pod(struct rb_ctx *c, struct rb_entry *e, size_t q)
{
  size_t n = c->pod[q].node;
  if (n == RB_NO_NODE || !entry_matches(c, e, q))
    return;
  int d = e->domains->dom[n];
  if (d >= 0) {
    e->count[d]++;
    e->total++;
  }
}

static int value_seen(const struct rb_requirement *r, size_t upto)
{
  for (size_t i = 0; i < upto; i++)
    if (!strcmp(r->values[i] ? r->values[i] : "", r->values[upto] ? r->values[upto] : ""))
      return 1;
  return 0;
}

/* The candidates come from the label index of the first In or Exists
 * requirement; a selector with neither looks at every pod. */
static void fill(struct rb_ctx *c, struct rb_entry *e)
{
  const struct rb_selector *sel = &e->term->sel;
  for (size_t i = 0; i < sel->n; i++) {
    const struct rb_requirement *r = &sel->reqs[i];
    if ((r->op != RB_OP_IN && r->op != RB_OP_EXISTS) || !r->key)
      continue;
    index_key(c, r->key);
    for (size_t v = 0; v < (r->op == RB_OP_IN ? r->n_values : 1); v++) {
      if (r->op == RB_OP_IN && value_seen(r, v))
        continue;
      const struct rb_vec *l = list(c, r->key, r->op == RB_OP_IN ? (r->values[v] ? r->values[v] : "") : NULL, 0);
      for (size_t k = 0; l && k < l->n; k++)
        count_pod(c, e, l->v[k]);
    }
    return;
  }
  for (size_t q = 0; q < c->in->n_pods; q++)
    count_pod(c, e, q);
}

/* A move concerns the entries whose first In requirement names one of the
 * pod's labels, and those without one. */
static void watch(struct rb_ctx *c, struct rb_entry *e)
{
  const struct rb_selector *sel = &e->term->sel;
  for (size_t i = 0; i < sel->n; i++) {
    const struct rb_requirement *r = &sel->reqs[i];
    if (r->op != RB_OP_IN || !r->key)
      continue;
    for (size_t v = 0; v < r->n_values; v++)
      if (!value_seen(r, v))
        rb_vec_push(list_in(c, &c->terms.watch, r->key, r->values[v] ? r->values[v] : "", 1), val_of(e));
    return;
  }
  rb_vec_push(&c->terms.generic, val_of(e));
}

static struct rb_entry *entry(struct rb_ctx *c, const struct rb_pod_term *t, const char *owner_ns)
{
  size_t len = sig_write(NULL, t, owner_ns);
  char *sig = rb_arena_alloc(&c->arena, len + 1);
  sig_write(sig, t, owner_ns);
  int added;
  size_t *slot = rb_map_put(&c->terms.entries, sig, NULL, &added);
  if (!added)
    return ptr_of(*slot);
  struct rb_entry *e = rb_arena_alloc(&c->arena, sizeof *e);
  *slot = val_of(e);
  e->term = t;
  e->owner_ns = owner_ns;
  e->domains = domains(c, t->topology_key && *t->topology_key ? t->topology_key : HOSTNAME_KEY);
  e->count = rb_arena_alloc(&c->arena, ((size_t)e->domains->n + 1) * sizeof *e->count);
  fill(c, e);
  rb_vec_push(&c->terms.all, val_of(e));
  watch(c, e);
  return e;
}

static struct rb_entry **entries_of(struct rb_ctx *c, const struct rb_pod_term *t, size_t n, const char *ns)
{
  struct rb_entry **v = rb_arena_alloc(&c->arena, (n + 1) * sizeof *v);
  for (size_t i = 0; i < n; i++)
    v[i] = entry(c, &t[i], ns);
  return v;
}

static void prepare(struct rb_ctx *c, size_t pod)
{
  struct rb_pod_round *r = &c->pod[pod];
  if (r->prepared)
    return;
  r->prepared = 1;
  const struct rb_pod *p = &c->in->pods[pod];
  const struct rb_affinity *a = &p->aff;
  r->pref = entries_of(c, a->pod_preferred, a->n_pod_preferred, p->ns);
  r->anti = entries_of(c, a->anti_preferred, a->n_anti_preferred, p->ns);
  r->req = entries_of(c, a->pod_required, a->n_pod_required, p->ns);
  if (!r->req_anti)
    r->req_anti = entries_of(c, a->anti_required, a->n_anti_required, p->ns);
  size_t k = 0;
  for (size_t i = 0; i < a->n_node_preferred; i++)
    k += a->node_preferred[i].sel.n;
  r->cols = rb_arena_alloc(&c->arena, (k + 1) * sizeof *r->cols);
  r->ext = rb_arena_alloc(&c->arena, k + 1);
  k = 0;
  for (size_t i = 0; i < a->n_node_preferred; i++)
    for (size_t j = 0; j < a->node_preferred[i].sel.n; j++, k++) {
      const struct rb_requirement *q = &a->node_preferred[i].sel.reqs[j];
      r->cols[k] = q->field || !q->key ? NULL : column(c, q->key);
      r->ext[k] = !q->field && q->key && rb_map_get(&c->ext_names, q->key, NULL);
    }
}

/* ---------- scores ---------- */

/* Pods the entry matches in node's domain, the pod itself left out. */
static int count_at(const struct rb_ctx *c, const struct rb_entry *e, size_t pod, size_t node)
{
  if (node == RB_NO_NODE)
    return 0;
  int d = e->domains->dom[node];
  if (d < 0)
    return 0;
  int k = e->count[d];
  size_t cur = c->pod[pod].node;
  if (cur != RB_NO_NODE && e->domains->dom[cur] == d && entry_matches(c, e, pod))
    k--;
  return k;
}

/* Pods the entry matches anywhere, the pod itself left out. */
static int count_others(const struct rb_ctx *c, const struct rb_entry *e, size_t pod)
{
  size_t cur = c->pod[pod].node;
  int self = cur != RB_NO_NODE && e->domains->dom[cur] >= 0 && entry_matches(c, e, pod);
  return e->total - self;
}

static int64_t need_of(const struct rb_pod *p, const char *resource)
{
  for (size_t i = 0; i < p->n_ext; i++)
    if (!strcmp(p->ext[i].name, resource) && p->ext[i].amount > 0)
      return p->ext[i].amount;
  return 1;
}

/* k: where this term's requirements start in the pod's cols and ext. */
static int node_term_matches(const struct rb_ctx *c, size_t pod, const struct rb_node_term *t, size_t k, size_t node)
{
  const struct rb_pod_round *pr = &c->pod[pod];
  if (!t->sel.n || node == RB_NO_NODE)
    return 0; /* an empty term matches no node */
  for (size_t j = 0; j < t->sel.n; j++) {
    const struct rb_requirement *r = &t->sel.reqs[j];
    const char *v = NULL;
    if (r->field)
      v = r->key && !strcmp(r->key, FIELD_NAME) ? c->in->nodes[node].name : NULL;
    else if (pr->cols[k + j])
      v = pr->cols[k + j][node];
    int64_t free_amount = !v && pr->ext[k + j] ? rb_ext_free(c, pod, node, r->key) : -1;
    if (free_amount >= 0 ? !rb_req_matches_free(r, free_amount, need_of(&c->in->pods[pod], r->key))
                         : !rb_req_matches(r, v))
      return 0;
  }
  return 1;
}

int rb_has_preferences(const struct rb_pod *p)
{
  return p->aff.n_node_preferred || p->aff.n_pod_preferred || p->aff.n_anti_preferred;
}

double rb_score(struct rb_ctx *c, size_t pod, size_t node)
{
  const struct rb_affinity *a = &c->in->pods[pod].aff;
  if (!rb_has_preferences(&c->in->pods[pod]))
    return 0;
  prepare(c, pod);
  const struct rb_pod_round *r = &c->pod[pod];
  double s = 0;
  size_t k = 0;
  for (size_t i = 0; i < a->n_node_preferred; k += a->node_preferred[i].sel.n, i++)
    if (node_term_matches(c, pod, &a->node_preferred[i], k, node))
      s += a->node_preferred[i].weight;
  for (size_t i = 0; i < a->n_pod_preferred; i++)
    if (count_at(c, r->pref[i], pod, node) > 0)
      s += a->pod_preferred[i].weight;
  for (size_t i = 0; i < a->n_anti_preferred; i++)
    if (count_at(c, r->anti[i], pod, node) > 0)
      s -= a->anti_preferred[i].weight;
  return s;
}

double rb_score_bound(struct rb_ctx *c, size_t pod)
{
  const struct rb_affinity *a = &c->in->pods[pod].aff;
  if (!rb_has_preferences(&c->in->pods[pod]))
    return 0;
  prepare(c, pod);
  double s = 0;
  for (size_t i = 0; i < a->n_node_preferred; i++)
    s += a->node_preferred[i].sel.n ? a->node_preferred[i].weight : 0;
  for (size_t i = 0; i < a->n_pod_preferred; i++)
    if (count_others(c, c->pod[pod].pref[i], pod) > 0)
      s += a->pod_preferred[i].weight;
  return s;
}

/* Without node terms and with nothing to escape (here >= 0), only a node where
 * a preferred pod term holds can beat here: the domains its entries count in. */
size_t rb_candidates(struct rb_ctx *c, size_t pod, double here, size_t *out)
{
  const struct rb_affinity *a = &c->in->pods[pod].aff;
  if (a->n_node_preferred || !a->n_pod_preferred || here < 0)
    return RB_ALL_NODES;
  prepare(c, pod);
  if (!c->terms.mark)
    c->terms.mark = rb_arena_alloc(&c->arena, (c->in->n_nodes + 1) * sizeof *c->terms.mark);
  unsigned stamp = ++c->terms.stamp;
  size_t n = 0, cur = c->pod[pod].node;
  for (size_t i = 0; i < a->n_pod_preferred; i++) {
    const struct rb_entry *e = c->pod[pod].pref[i];
    const struct rb_domains *d = e->domains;
    int own = cur != RB_NO_NODE && entry_matches(c, e, pod) ? d->dom[cur] : -1;
    for (int k = 0; k < d->n; k++) {
      if (e->count[k] - (k == own) <= 0)
        continue;
      for (size_t j = d->start[k]; j < d->start[k + 1]; j++)
        if (c->terms.mark[d->nodes[j]] != stamp) {
          c->terms.mark[d->nodes[j]] = stamp;
          out[n++] = d->nodes[j];
        }
    }
  }
  return n;
}

/* ---------- required terms ---------- */

static void prepare_required_anti(struct rb_ctx *c, size_t pod)
{
  const struct rb_pod *p = &c->in->pods[pod];
  if (!c->pod[pod].req_anti)
    c->pod[pod].req_anti = entries_of(c, p->aff.anti_required, p->aff.n_anti_required, p->ns);
}

/* Every pod's required anti-affinity terms, with where their owners run. */
static void anti_build(struct rb_ctx *c)
{
  if (c->terms.anti_ready)
    return;
  c->terms.anti_ready = 1;
  for (size_t q = 0; q < c->in->n_pods; q++) {
    size_t n = c->in->pods[q].aff.n_anti_required;
    if (!n)
      continue;
    prepare_required_anti(c, q);
    for (size_t i = 0; i < n; i++) {
      struct rb_entry *e = c->pod[q].req_anti[i];
      if (!e->owners) {
        e->owners = rb_arena_alloc(&c->arena, ((size_t)e->domains->n + 1) * sizeof *e->owners);
        rb_vec_push(&c->terms.anti, val_of(e));
      }
      size_t at = c->pod[q].node;
      if (at != RB_NO_NODE && e->domains->dom[at] >= 0)
        e->owners[e->domains->dom[at]]++;
    }
  }
}

static void term_text(const struct rb_pod_term *t, const char *what, char *why, size_t len)
{
  char sel[160];
  rb_selector_text(&t->sel, sel, sizeof sel);
  snprintf(why, len, "%s pods %s per %s", what, sel,
           t->topology_key && *t->topology_key ? t->topology_key : HOSTNAME_KEY);
}

/* Whether another pod's required anti-affinity keeps the pod off node. */
static const struct rb_entry *others_refuse(struct rb_ctx *c, size_t pod, size_t node)
{
  anti_build(c);
  const struct rb_pod_round *r = &c->pod[pod];
  size_t n_own = c->in->pods[pod].aff.n_anti_required;
  for (size_t i = 0; i < c->terms.anti.n; i++) {
    const struct rb_entry *e = ptr_of(c->terms.anti.v[i]);
    int d = e->domains->dom[node];
    if (d < 0 || !e->owners[d] || !entry_matches(c, e, pod))
      continue;
    int owners = e->owners[d];
    for (size_t k = 0; k < n_own && r->node != RB_NO_NODE && e->domains->dom[r->node] == d; k++)
      owners -= r->req_anti[k] == e; /* its own term, where it is */
    if (owners > 0)
      return e;
  }
  return NULL;
}

int rb_required_ok(struct rb_ctx *c, size_t pod, size_t node, char *why, size_t len)
{
  const struct rb_affinity *a = &c->in->pods[pod].aff;
  prepare(c, pod);
  const struct rb_pod_round *r = &c->pod[pod];
  for (size_t i = 0; i < a->n_pod_required; i++) {
    const struct rb_entry *e = r->req[i];
    /* the first of its kind may start anywhere when it matches its own term */
    if (count_at(c, e, pod, node) > 0 || (!count_others(c, e, pod) && entry_matches(c, e, pod)))
      continue;
    term_text(e->term, "required affinity to", why, len);
    return 0;
  }
  for (size_t i = 0; i < a->n_anti_required; i++)
    if (count_at(c, r->req_anti[i], pod, node) > 0) {
      term_text(r->req_anti[i]->term, "required anti-affinity to", why, len);
      return 0;
    }
  const struct rb_entry *e = others_refuse(c, pod, node);
  if (e) {
    term_text(e->term, "another pod's required anti-affinity to", why, len);
    return 0;
  }
  return 1;
}

/* ---------- what a move changes ---------- */

static void entries_follow(struct rb_ctx *c, const struct rb_vec *v, size_t pod, size_t from, size_t to)
{
  for (size_t i = 0; v && i < v->n; i++) {
    struct rb_entry *e = ptr_of(v->v[i]);
    if (!entry_matches(c, e, pod))
      continue;
    int df = e->domains->dom[from], dt = e->domains->dom[to];
    e->total += (dt >= 0) - (df >= 0);
    if (df >= 0)
      e->count[df]--;
    if (dt >= 0)
      e->count[dt]++;
  }
}

void rb_terms_moved(struct rb_ctx *c, size_t pod, size_t from, size_t to)
{
  const struct rb_pod *p = &c->in->pods[pod];
  for (size_t l = 0; l < p->n_labels; l++)
    if (p->labels[l].key)
      entries_follow(c, list_in(c, &c->terms.watch, p->labels[l].key, p->labels[l].value ? p->labels[l].value : "", 0),
                     pod, from, to);
  entries_follow(c, &c->terms.generic, pod, from, to);
  size_t n_own = c->in->pods[pod].aff.n_anti_required;
  for (size_t k = 0; c->terms.anti_ready && k < n_own; k++) {
    struct rb_entry *e = c->pod[pod].req_anti[k];
    int df = e->domains->dom[from], dt = e->domains->dom[to];
    if (df >= 0)
      e->owners[df]--;
    if (dt >= 0)
      e->owners[dt]++;
  }
}

/* ---------- words ---------- */

static int hardware_term(const struct rb_ctx *c, size_t pod, const struct rb_node_term *t, size_t k, size_t node)
{
  const struct rb_pod_round *pr = &c->pod[pod];
  for (size_t j = 0; j < t->sel.n; j++) {
    const struct rb_requirement *r = &t->sel.reqs[j];
    if (!r->key || r->field)
      continue;
    if (rb_hardware_key(c->pol, r->key) ||
        (pr->ext[k + j] && !(pr->cols[k + j] && pr->cols[k + j][node]) && rb_ext_free(c, pod, node, r->key) >= 0))
      return 1;
  }
  return 0;
}

int rb_hardware_gain(struct rb_ctx *c, size_t pod, size_t node, char *what, size_t len)
{
  const struct rb_affinity *a = &c->in->pods[pod].aff;
  if (!a->n_node_preferred)
    return 0;
  prepare(c, pod);
  const struct rb_pod_round *r = &c->pod[pod];
  size_t k = 0;
  for (size_t i = 0; i < a->n_node_preferred; k += a->node_preferred[i].sel.n, i++) {
    const struct rb_node_term *t = &a->node_preferred[i];
    if (!hardware_term(c, pod, t, k, node) || !node_term_matches(c, pod, t, k, node) ||
        node_term_matches(c, pod, t, k, r->node))
      continue;
    char sel[200];
    rb_selector_text(&t->sel, sel, sizeof sel);
    snprintf(what, len, "nodes with %s (weight %d)", sel, t->weight);
    return 1;
  }
  return 0;
}

/* The pod's heaviest preferred term that node satisfies and its node does not. */
void rb_term_text(struct rb_ctx *c, size_t pod, size_t node, char *buf, size_t len)
{
  const struct rb_affinity *a = &c->in->pods[pod].aff;
  const struct rb_pod_round *r = &c->pod[pod];
  int best = 0;
  char sel[200], text[300];
  buf[0] = '\0';
  prepare(c, pod);
  size_t k = 0;
  for (size_t i = 0; i < a->n_node_preferred; k += a->node_preferred[i].sel.n, i++) {
    const struct rb_node_term *t = &a->node_preferred[i];
    if (t->weight <= best || !node_term_matches(c, pod, t, k, node) || node_term_matches(c, pod, t, k, r->node))
      continue;
    best = t->weight;
    rb_selector_text(&t->sel, sel, sizeof sel);
    snprintf(buf, len, "prefers nodes with %s (weight %d)", sel, best);
  }
  for (size_t i = 0; i < a->n_pod_preferred + a->n_anti_preferred; i++) {
    int anti = i >= a->n_pod_preferred;
    const struct rb_pod_term *t = anti ? &a->anti_preferred[i - a->n_pod_preferred] : &a->pod_preferred[i];
    const struct rb_entry *e = anti ? r->anti[i - a->n_pod_preferred] : r->pref[i];
    int here = count_at(c, e, pod, r->node) > 0, there = count_at(c, e, pod, node) > 0;
    if (t->weight <= best || (anti ? !here || there : here || !there))
      continue;
    best = t->weight;
    term_text(t, anti ? "prefers to stay apart from" : "prefers to run with", text, sizeof text);
    snprintf(buf, len, "%s (weight %d)", text, best);
  }
}
