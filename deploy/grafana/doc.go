// Package grafana holds no code netmon runs: this folder is the Grafana
// provisioning (provisioning/) and the dashboards (dashboards/) an operator
// copies into Grafana. Its tests run every query of the dashboards against
// real databases filled by replays of captures through the netmon binary,
// expanded as Grafana and its data sources expand them, and compare each
// answer with sums computed from the rows; see docs/grafana.md.
package grafana
