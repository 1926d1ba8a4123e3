# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# helm/ferry installed into the one-machine cluster (cluster.sh), and what the
# processes that play its pods take from it (cluster-chart-values.yaml says why
# its pods do not run here):
#
#   chart_install                 helm install ferry (namespace ferry-system, the test values,
#                                 the nodes' shared store); its manifest kept in CLUSTER_DIR/chart.yaml
#   chart_identity SA [NODE]      CLUSTER_DIR/kubeconfig-SA[-NODE]: the API server with SA's token
#                                 (TokenRequest; bound to Node NODE, as an agent's projected token names its node)
#   chart_args KIND NAME [CTR]    the arguments the chart gives that container, one per line
#   chart_node_setup_args CTR     the same for the node setup DaemonSet's init container CTR
#                                 (install or runtime), as the chart renders it with nodeSetup.enabled
#   chart_webhook_serve PORT      the chart's webhook certificate and key in CLUSTER_DIR/webhook.{crt,key};
#                                 the webhook Service's endpoint: 127.0.0.1:PORT (an EndpointSlice of the harness's own)
CHART_NS=ferry-system
CHART_RELEASE=ferry
CHART_WEBHOOK_SECRET=ferry-webhook-tls

chart_helm() { helm --kubeconfig "$KUBECONFIG" -n "$CHART_NS" "$@"; }

chart_install() {
  local top
  top=$(cd "$CLUSTER_LIB_DIR/../.." && pwd)
  if ! chart_helm install "$CHART_RELEASE" "$top/helm/ferry" --create-namespace \
    -f "$CLUSTER_LIB_DIR/cluster-chart-values.yaml" --set store.url="dir://$NODES_STORE" \
    >"$CLUSTER_DIR/helm-install.log" 2>&1; then
    cat "$CLUSTER_DIR/helm-install.log" >&2
    return 1
  fi
  chart_helm get manifest "$CHART_RELEASE" >"$CLUSTER_DIR/chart.yaml"
}

chart_identity() {
  local token server bound=() file=$CLUSTER_DIR/kubeconfig-$1
  if [ -n "${2:-}" ]; then
    bound=(--bound-object-kind Node --bound-object-name "$2")
    file=$file-$2
  fi
  token=$(cluster_kubectl create token "$1" -n "$CHART_NS" --duration 24h "${bound[@]}") || return 1
  server=$(cluster_kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
  cat >"$file" <<Y
apiVersion: v1
kind: Config
clusters: [{name: kube-lite, cluster: {server: "$server"}}]
users: [{name: $1, user: {token: "$token"}}]
contexts: [{name: $1, context: {cluster: kube-lite, user: $1, namespace: $CHART_NS}}]
current-context: $1
Y
}

chart_args() { python3 "$CLUSTER_LIB_DIR/chart_args.py" "$@" <"$CLUSTER_DIR/chart.yaml"; }

chart_node_setup_args() {
  local top
  top=$(cd "$CLUSTER_LIB_DIR/../.." && pwd)
  if [ ! -s "$CLUSTER_DIR/node-setup.yaml" ]; then
    helm template "$CHART_RELEASE" "$top/helm/ferry" -n "$CHART_NS" -f "$CLUSTER_LIB_DIR/cluster-chart-values.yaml" \
      --set nodeSetup.enabled=true --show-only templates/node-setup.yaml >"$CLUSTER_DIR/node-setup.yaml.new" \
      2>"$CLUSTER_DIR/node-setup.log" || { cat "$CLUSTER_DIR/node-setup.log" >&2; return 1; }
    mv "$CLUSTER_DIR/node-setup.yaml.new" "$CLUSTER_DIR/node-setup.yaml"
  fi
  python3 "$CLUSTER_LIB_DIR/chart_args.py" DaemonSet "$CHART_RELEASE-node-setup" "$1" <"$CLUSTER_DIR/node-setup.yaml"
}

chart_webhook_serve() {
  cluster_kubectl get secret -n "$CHART_NS" "$CHART_WEBHOOK_SECRET" -o jsonpath='{.data.tls\.crt}' |
    base64 -d >"$CLUSTER_DIR/webhook.crt" || return 1
  cluster_kubectl get secret -n "$CHART_NS" "$CHART_WEBHOOK_SECRET" -o jsonpath='{.data.tls\.key}' |
    base64 -d >"$CLUSTER_DIR/webhook.key" || return 1
  cluster_kubectl apply -f - >/dev/null <<Y
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ferry-controller-webhook-processes
  namespace: $CHART_NS
  labels: {kubernetes.io/service-name: ferry-controller-webhook, endpointslice.kubernetes.io/managed-by: ferry-test-cluster}
addressType: IPv4
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]
ports: [{name: webhook, port: $1, protocol: TCP}]
Y
}
