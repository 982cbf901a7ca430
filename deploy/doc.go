// Package deploy holds no code: it is the home of what operators run
// portcullis with, and of the tests that keep those files honest.
//
//	grafana/portcullis.json         the dashboard
//	prometheus/alerts.yaml          alerting rules, with alerts_test.yaml for promtool test rules
//	prometheus/prometheus.example.yml  scrape configurations (static, Kubernetes pods)
//	kubernetes/                     Deployment, Service, ConfigMap, PodDisruptionBudget, HPA, kustomization
//	helm/portcullis/                the Helm chart of the same objects (helm_test.go renders and checks it)
//
// The tests check that every PromQL expression in the dashboard and the
// rules names only metrics the gateway exposes (so neither can drift from
// package metrics), that promtool accepts and passes the rules, and that the
// Kubernetes manifests keep their security properties and agree with the
// configuration they mount and the image the Dockerfile builds.
package deploy
