"""The parts scenarios are assembled from: the platform add-ons every cluster runs, the
``shop`` application, team namespaces, CronJobs, heavy outside traffic and a zoo of label
styles. The ``mixed`` scenario is literally the union of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from learner.model.flow import Direction
from learner.simulate.builder import CJ, DS, UDP, D, P, S, ScenarioBuilder, port
from learner.simulate.cluster import ENTITY_KUBE_APISERVER, ENTITY_NODES, ENTITY_WORLD, Workload
from learner.simulate.topology import AppLabels, LabelStyle
from learner.simulate.traffic_generator import L7, SECOND, Periodic, PerJobRun, Poisson


@dataclass(frozen=True, slots=True)
class Platform:
    coredns: Workload
    prometheus: Workload
    ingress: Workload


def platform(s: ScenarioBuilder, replicas: int = 1) -> Platform:
    """What every cluster runs: CoreDNS, Prometheus, kube-state-metrics, a log shipper,
    cert-manager talking to the API server, and an ingress controller facing the internet."""
    b = s.cluster
    b.namespace("kube-system")
    b.namespace("monitoring", {"team": "platform"})
    b.namespace("cert-manager", {"team": "platform"})
    b.namespace("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx", "team": "platform"})
    coredns = b.workload(
        "kube-system", "coredns", D, LabelStyle.K8S_APP, AppLabels("kube-dns"),
        image="registry.k8s.io/coredns/coredns:v1.11.1", replicas=2 * replicas,
        ports=[port(53, "dns", UDP), port(53, "dns-tcp"), port(9153, "metrics"),
               port(8080, "health"), port(8181, "ready")],
        probes=["health", "ready"], service="kube-dns", service_account="coredns",
    )  # fmt: skip
    s.resolver = coredns
    prometheus = b.workload(
        "monitoring", "prometheus-k8s", S, LabelStyle.RECOMMENDED,
        AppLabels("prometheus", "k8s", "prometheus", "2.53.0", part_of="kube-prometheus"),
        image="quay.io/prometheus/prometheus:v2.53.0", ports=[port(9090, "web")],
        probes=["web"], service="prometheus-k8s", service_account="prometheus-k8s",
    )  # fmt: skip
    ksm = b.workload(
        "monitoring", "kube-state-metrics", D, LabelStyle.RECOMMENDED,
        AppLabels("kube-state-metrics", component="exporter", version="2.12.0",
                  part_of="kube-prometheus"),
        image="registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.12.0",
        ports=[port(8080, "http-metrics"), port(8081, "telemetry")], probes=["http-metrics"],
        service="kube-state-metrics",
    )  # fmt: skip
    fluent_bit = b.workload(
        "monitoring", "fluent-bit", DS, LabelStyle.HELM,
        AppLabels("fluent-bit", "fluent-bit", version="3.0.7", chart="fluent-bit-0.46.11"),
        image="cr.fluentbit.io/fluent/fluent-bit:3.0.7", ports=[port(2020, "http")],
        probes=["http"],
    )  # fmt: skip
    cert_manager = b.workload(
        "cert-manager", "cert-manager", D, LabelStyle.HELM,
        AppLabels("cert-manager", "cert-manager", "controller", "1.15.1",
                  chart="cert-manager-v1.15.1"),
        image="quay.io/jetstack/cert-manager-controller:v1.15.1",
        ports=[port(9402, "http-metrics")],
    )  # fmt: skip
    ingress = b.workload(
        "ingress-nginx", "ingress-nginx-controller", D, LabelStyle.HELM,
        AppLabels("ingress-nginx", "ingress-nginx", "controller", "1.10.1",
                  chart="ingress-nginx-4.10.1", part_of="ingress-nginx"),
        image="registry.k8s.io/ingress-nginx/controller:v1.10.1", replicas=2 * replicas,
        ports=[port(80, "http"), port(443, "https"), port(10254, "metrics")],
        probes=["metrics"], service="ingress-nginx-controller", service_account="ingress-nginx",
    )  # fmt: skip
    upstream = b.external("upstream-dns", [], ["169.254.169.254/32"], 1)
    letsencrypt = b.external("letsencrypt", ["acme-v02.api.letsencrypt.org"], ["172.65.32.0/24"], 1)
    logs = b.external("datadog-logs", ["http-intake.logs.datadoghq.eu"], ["34.107.172.0/24"], 3)
    s.connect(coredns, upstream, 53, Poisson(600), protocol=UDP)
    s.connect(coredns, ENTITY_KUBE_APISERVER, 443, Poisson(30))
    s.connect(prometheus, ENTITY_KUBE_APISERVER, 443, Poisson(60))
    s.connect(ksm, ENTITY_KUBE_APISERVER, 443, Poisson(120))
    s.connect(fluent_bit, ENTITY_KUBE_APISERVER, 443, Poisson(30))
    s.connect(fluent_bit, logs, 443, Poisson(720))
    s.connect(cert_manager, ENTITY_KUBE_APISERVER, 443, Poisson(240))
    s.connect(cert_manager, letsencrypt, 443, Poisson(0.2), rare=True)
    s.connect(ingress, ENTITY_KUBE_APISERVER, 443, Poisson(30))
    s.connect(ENTITY_WORLD, ingress, "https", Poisson(7200), via_service=False)
    s.connect(ENTITY_WORLD, ingress, "http", Poisson(600), via_service=False)
    for target, port_name in (
        (coredns, "metrics"), (ksm, "http-metrics"), (ksm, "telemetry"),
        (fluent_bit, "http"), (cert_manager, "http-metrics"), (ingress, "metrics"),
    ):  # fmt: skip
        s.scrape(prometheus, target, port_name)
    return Platform(coredns, prometheus, ingress)


def node_scrapes(s: ScenarioBuilder, p: Platform) -> None:
    """Prometheus scraping every node, as kube-prometheus-stack does: the kubelet and cAdvisor
    (10250) and node-exporter, a hostNetwork DaemonSet (9100), at each node's own address."""
    for number in (10250, 9100):
        s.connect(p.prometheus, ENTITY_NODES, number, Periodic(15), via_service=False)


API_REQUESTS = (
    "GET /api/v1/products/{id}",
    "GET /api/v1/products",
    "GET /api/v1/users/{id}",
    "GET /api/v1/users/{id}/orders",
    "POST /api/v1/cart/{id}/items",
    "DELETE /api/v1/cart/{id}/items/{id}",
    "POST /api/v1/orders",
    "GET /api/v1/orders/{id}",
)


def shop(s: ScenarioBuilder, p: Platform, replicas: int = 1, restart_api: bool = True) -> None:
    """The demo application: web, API, worker, nightly report, Postgres, Redis, weekly backup."""
    b = s.cluster
    b.namespace("shop", {"team": "storefront", "env": "prod"})
    b.namespace("shop-data", {"team": "storefront", "env": "prod", "tier": "data"})
    frontend = b.workload(
        "shop", "frontend", D, LabelStyle.PLAIN, AppLabels("frontend", tier="web", version="2.4.1"),
        image="ghcr.io/example/shop-frontend:2.4.1", replicas=3 * replicas,
        ports=[port(8080, "http")], probes=["http"], service="frontend",
    )  # fmt: skip
    api = b.workload(
        "shop", "api", D, LabelStyle.PLAIN, AppLabels("api", tier="backend", version="3.12.0"),
        image="ghcr.io/example/shop-api:3.12.0", replicas=3 * replicas,
        ports=[port(8080, "http"), port(9090, "metrics")], probes=["http"], service="api",
    )  # fmt: skip
    worker = b.workload(
        "shop", "worker", D, LabelStyle.PLAIN, AppLabels("worker", tier="backend", version="3.12.0"),
        image="ghcr.io/example/shop-api:3.12.0", replicas=2 * replicas,
        ports=[port(9090, "metrics")], probes=["metrics"],
    )  # fmt: skip
    report = b.workload(
        "shop", "nightly-report", CJ, LabelStyle.PLAIN, AppLabels("nightly-report", tier="batch"),
        image="ghcr.io/example/shop-reports:1.3.0", schedule="0 2 * * *", job_seconds=600,
    )  # fmt: skip
    netshoot = b.workload(
        "shop", "netshoot", P, LabelStyle.RUN, AppLabels("netshoot"),
        image="nicolaka/netshoot:v0.13",
    )  # fmt: skip
    db = b.workload(
        "shop-data", "db", S, LabelStyle.HELM,
        AppLabels("postgresql", "db", "primary", "16.3.0", chart="postgresql-15.5.20"),
        image="docker.io/bitnami/postgresql:16.3.0", replicas=2,
        ports=[port(5432, "tcp-postgresql"), port(9187, "http-metrics")],
        probes=["tcp-postgresql"], service="db",
    )  # fmt: skip
    cache = b.workload(
        "shop-data", "cache", S, LabelStyle.HELM,
        AppLabels("redis", "cache", "master", "7.2.5", chart="redis-19.6.4"),
        image="docker.io/bitnami/redis:7.2.5",
        ports=[port(6379, "redis"), port(9121, "http-metrics")], probes=["redis"],
        service="cache",
    )  # fmt: skip
    backup = b.workload(
        "shop-data", "db-backup", CJ, LabelStyle.RECOMMENDED,
        AppLabels("db-backup", component="backup", part_of="shop"),
        image="ghcr.io/example/pg-backup:1.1.0", schedule="30 3 * * 0", job_seconds=1200,
    )  # fmt: skip
    stripe = b.external("stripe", ["api.stripe.com"], ["54.187.174.0/24", "54.187.205.0/24"], 6)
    s3 = b.external("s3", ["s3.eu-west-1.amazonaws.com"], ["52.218.48.0/24", "52.92.32.0/24"], 8)
    s.no_dns.add(netshoot.id)
    s.dns_over_tcp.update({api.id, worker.id})
    s.connect(p.ingress, frontend, "http", Poisson(6000))
    s.connect(frontend, api, "http", Poisson(9000), l7=L7.HTTP, requests=API_REQUESTS)
    s.connect(api, db, "tcp-postgresql", Poisson(3000))
    s.connect(api, cache, "redis", Poisson(6000))
    s.connect(worker, cache, "redis", Poisson(1200))
    s.connect(worker, db, "tcp-postgresql", Poisson(600))
    s.connect(worker, stripe, 443, Poisson(120))
    s.connect(db, db, "tcp-postgresql", Poisson(60))  # streaming replication
    s.connect(report, db, "tcp-postgresql", PerJobRun(5))
    s.connect(report, s3, 443, PerJobRun(3))
    s.connect(backup, db, "tcp-postgresql", PerJobRun(3))
    s.connect(backup, s3, 443, PerJobRun(10))
    for target, port_name in (
        (api, "metrics"), (worker, "metrics"), (db, "http-metrics"), (cache, "http-metrics"),
    ):  # fmt: skip
        s.scrape(p.prometheus, target, port_name)
    s.deny_scan(netshoot, db, (22, 80, 443, 3306, 5432, 6379, 8080, 9200, 27017))
    s.connect(netshoot, api, "http", Poisson(6), denied=True)
    s.connect(netshoot, ENTITY_KUBE_APISERVER, 443, Poisson(2), denied=True,
              dropped_at=Direction.EGRESS)  # fmt: skip
    if restart_api:
        b.rollout(api, s.at(0.4))


TEAMS = (
    ("payments", "ledger", LabelStyle.HELM),
    ("search", "indexer", LabelStyle.RECOMMENDED),
    ("catalog", "images", LabelStyle.PLAIN),
    ("accounts", "sessions", LabelStyle.PLAIN),
    ("notifications", "mailer", LabelStyle.RECOMMENDED),
    ("reviews", "moderation", LabelStyle.HELM),
)


def teams(s: ScenarioBuilder, p: Platform) -> None:
    """Six team namespaces, each an API and a helper, scraped by the central Prometheus and
    calling one another across namespaces."""
    b = s.cluster
    apis: list[Workload] = []
    for index, (team, helper_name, style) in enumerate(TEAMS):
        namespace = b.namespace(
            f"team-{team}", {"team": team, "env": "prod" if index % 3 else "staging"}
        )
        api = b.workload(
            namespace, f"{team}-api", D, style,
            AppLabels(f"{team}-api", f"{team}", "api", f"1.{index}.0", tier="backend",
                      chart=f"{team}-api-0.{index + 1}.0"),
            image=f"ghcr.io/example/{team}-api:1.{index}.0", replicas=2,
            ports=[port(8080, "http"), port(9090, "metrics")], probes=["http"],
            service=f"{team}-api",
        )  # fmt: skip
        helper = b.workload(
            namespace, helper_name, D, style,
            AppLabels(helper_name, f"{team}", "worker", f"1.{index}.0", tier="backend",
                      chart=f"{helper_name}-0.{index + 1}.0"),
            image=f"ghcr.io/example/{helper_name}:1.{index}.0",
            ports=[port(9090, "metrics")], probes=["metrics"],
        )  # fmt: skip
        s.connect(helper, api, "http", Poisson(400))
        s.connect(p.ingress, api, "http", Poisson(1500))
        s.scrape(p.prometheus, api, "metrics")
        s.scrape(p.prometheus, helper, "metrics")
        apis.append(api)
    for index, api in enumerate(apis):
        s.connect(api, apis[(index + 1) % len(apis)], "http", Poisson(300))


def new_team_next_day(s: ScenarioBuilder, p: Platform) -> None:
    """With ``next_day``: a seventh team installs its API into a new namespace between the
    days; Prometheus scrapes it and the ingress controller routes to it (its ServiceMonitor and
    Ingress came with the chart). Declared last, so that the rest of the cluster is drawn as
    without it."""
    if not s.next_day:
        return
    b = s.cluster
    namespace = b.namespace("team-orders", {"team": "orders", "env": "prod"})
    api = b.workload(
        namespace, "orders-api", D, LabelStyle.HELM,
        AppLabels("orders-api", "orders", "api", "1.0.0", tier="backend",
                  chart="orders-api-0.1.0"),
        image="ghcr.io/example/orders-api:1.0.0", replicas=2,
        ports=[port(8080, "http"), port(9090, "metrics")], probes=["http"],
        created_ns=s.learning.end_ns + 60 * SECOND,
    )  # fmt: skip
    s.scrape(p.prometheus, api, "metrics")
    s.connect(p.ingress, api, "http", Poisson(1500))  # its Ingress came with the chart


def batch(s: ScenarioBuilder, db: Workload | None = None) -> None:
    """CronJobs on every common schedule, from every five minutes to monthly."""
    b = s.cluster
    b.namespace("batch", {"team": "data", "env": "prod"})
    if db is None:
        db = b.workload(
            "batch", "warehouse", S, LabelStyle.HELM,
            AppLabels("postgresql", "warehouse", "primary", "16.3.0",
                      chart="postgresql-15.5.20"),
            image="docker.io/bitnami/postgresql:16.3.0",
            ports=[port(5432, "tcp-postgresql")], probes=["tcp-postgresql"],
            service="warehouse",
        )  # fmt: skip
    exports = b.external(
        "gcs", ["storage.googleapis.com"], ["142.250.74.0/24", "172.217.16.0/24"], 4
    )
    jobs = (
        ("queue-drain", "*/5 * * * *", 40, 2),
        ("sitemap", "15 * * * *", 120, 3),
        ("etl-nightly", "0 1 * * *", 1800, 20),
        ("vacuum-weekly", "0 4 * * 6", 900, 5),
        ("invoice-monthly", "0 5 1 * *", 900, 5),
    )
    for name, schedule, seconds, events in jobs:
        job = b.workload(
            "batch", name, CJ, LabelStyle.RECOMMENDED,
            AppLabels(name, component="cronjob", part_of="data-platform"),
            image=f"ghcr.io/example/{name}:2.0.1", schedule=schedule, job_seconds=seconds,
        )  # fmt: skip
        s.connect(job, db, "tcp-postgresql", PerJobRun(events))
        if name in ("etl-nightly", "invoice-monthly"):
            s.connect(job, exports, 443, PerJobRun(events))
        if name == "invoice-monthly":
            s.connect(job, ENTITY_KUBE_APISERVER, 443, PerJobRun(1))


def outside_heavy(s: ScenarioBuilder) -> None:
    """Workers talking to many outside addresses spread over a few /24s."""
    b = s.cluster
    b.namespace("integrations", {"team": "integrations", "env": "prod"})
    sync = b.workload(
        "integrations", "object-sync", D, LabelStyle.RECOMMENDED,
        AppLabels("object-sync", component="worker", version="4.2.0", part_of="integrations"),
        image="ghcr.io/example/object-sync:4.2.0", replicas=3,
        ports=[port(8080, "http")], probes=["http"],
    )  # fmt: skip
    webhooks = b.workload(
        "integrations", "webhooks", D, LabelStyle.RECOMMENDED,
        AppLabels("webhooks", component="dispatcher", version="1.8.3", part_of="integrations"),
        image="ghcr.io/example/webhooks:1.8.3", replicas=2,
        ports=[port(8080, "http")], probes=["http"],
    )  # fmt: skip
    s3 = b.external(
        "s3-bulk", ["s3.us-east-1.amazonaws.com", "bucket-exports.s3.amazonaws.com"],
        ["52.216.8.0/24", "52.217.40.0/24", "3.5.0.0/24"], 60,
        rotate_at_ns=s.pool_rotation_ns,
    )  # fmt: skip
    github = b.external("github", ["api.github.com"], ["140.82.112.0/24", "140.82.113.0/24"], 8)
    slack = b.external("slack", ["hooks.slack.com"], ["34.226.36.0/24", "3.225.65.0/24"], 10)
    pagerduty = b.external("pagerduty", ["events.pagerduty.com"], ["44.242.69.0/24"], 4)
    s.connect(sync, s3, 443, Poisson(2400))
    s.connect(sync, github, 443, Poisson(300))
    s.connect(webhooks, slack, 443, Poisson(600))
    s.connect(webhooks, pagerduty, 443, Poisson(20))


def label_zoo(s: ScenarioBuilder, p: Platform) -> None:
    """Apps labelled only with ``app.kubernetes.io/*``, only with ``k8s-app``, and pods that
    carry per-pod labels (Argo Rollouts hash, database operator roles) on top."""
    b = s.cluster
    b.namespace("labels", {"team": "platform", "env": "prod"})
    recommended = b.workload(
        "labels", "catalog", D, LabelStyle.RECOMMENDED,
        AppLabels("catalog", "catalog-prod", "api", "5.1.0", part_of="store"),
        image="ghcr.io/example/catalog:5.1.0", replicas=2,
        ports=[port(8080, "http")], probes=["http"], service="catalog",
    )  # fmt: skip
    k8s_app = b.workload(
        "labels", "inventory", D, LabelStyle.K8S_APP, AppLabels("inventory"),
        image="ghcr.io/example/inventory:0.9.4", replicas=2,
        ports=[port(8080, "http")], probes=["http"], service="inventory",
    )  # fmt: skip
    noisy = b.workload(
        "labels", "pricing", D, LabelStyle.PLAIN, AppLabels("pricing", tier="backend"),
        image="ghcr.io/example/pricing:2.2.0", replicas=3, pod_noise=True,
        ports=[port(8080, "http")], probes=["http"], service="pricing",
    )  # fmt: skip
    ledger = b.workload(
        "labels", "ledger-db", S, LabelStyle.RECOMMENDED,
        AppLabels("ledger-db", "ledger", "database", "16.3"), pod_noise=True,
        image="ghcr.io/cloudnative-pg/postgresql:16.3", replicas=3,
        ports=[port(5432, "postgresql")], probes=["postgresql"], service="ledger-db-rw",
    )  # fmt: skip
    s.connect(p.ingress, recommended, "http", Poisson(2000))
    s.connect(recommended, k8s_app, "http", Poisson(1200))
    s.connect(recommended, noisy, "http", Poisson(1500))
    s.connect(noisy, ledger, "postgresql", Poisson(900))
    s.connect(ledger, ledger, "postgresql", Poisson(60))
    b.rollout(noisy, s.at(0.5))


def address_pools(s: ScenarioBuilder) -> None:
    """Clients of SaaS pools that rotate between the learning and the held-out window: a
    payment API with one numbered name per address spread over one /24, and a CDN whose
    edges come from two /24s under one name. The held-out window uses other addresses of the
    same pools, as a provider's DNS does from one day to the next."""
    b = s.cluster
    b.namespace("payments", {"team": "payments", "env": "prod"})
    checkout = b.workload(
        "payments", "checkout", D, LabelStyle.RECOMMENDED,
        AppLabels("checkout", component="api", version="3.0.1", part_of="payments"),
        image="ghcr.io/example/checkout:3.0.1", replicas=3,
        ports=[port(8080, "http")], probes=["http"],
    )  # fmt: skip
    rotate = s.held_out.start_ns
    processor = b.external(
        "payment-processor", ["api.payments.example.com"], ["54.240.197.0/24"], 20,
        rotate_at_ns=rotate, name_pattern="api-{n}.payments.example.com",
    )  # fmt: skip
    cdn = b.external(
        "cdn", ["assets.cdn.example.net"], ["151.101.64.0/24", "151.101.65.0/24"], 24,
        rotate_at_ns=rotate,
    )  # fmt: skip
    s.connect(checkout, processor, 443, Poisson(1800))
    s.connect(checkout, cdn, 443, Poisson(1200))
