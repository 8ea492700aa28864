"""Names of the top-level components. Resource names derive from them and are the adoption keys
(`adoptIds`), so they are fixed here once."""

NODES = "honeydue"
FIREWALL = "honeydue-firewall"
FIREWALL_SYNC = "honeydue-firewall-sync"
K3S = "honeydue-k3s"
ORIGIN = "honeydue-origin"
EDGE_TLS = "honeydue-edge-tls"
TRAEFIK = "honeydue-traefik"
APPS = "honeydue-apps"
DNS = "honeydue-dns"
