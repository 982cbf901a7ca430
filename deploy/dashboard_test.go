package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"

	"github.com/portcullis/portcullis/metrics"
)

// The dashboard, and the metric names it and the rules use, against what
// the gateway exposes.

// prometheusSeries are made by Prometheus for every target, not by the
// gateway; rules and panels may use them.
var prometheusSeries = []string{"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling", "scrape_series_added"}

// exposedFamilies returns the metric families a gateway's registry exposes
// once each of its collectors has recorded something (an empty vector
// exposes nothing), by name.
func exposedFamilies(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	m := metrics.New()
	m.Requests.WithLabelValues("orders", "GET", "200", "proxy").Inc()
	m.RequestDuration.WithLabelValues("orders", "proxy").Observe(0.01)
	m.UpstreamDuration.WithLabelValues("orders").Observe(0.01)
	m.AuthDecisions.WithLabelValues("orders", "allowed", "enforce", "proxy").Inc()
	m.AuthFailures.WithLabelValues("corp", "bad_signature").Inc()
	m.JWKSRefreshed("corp", nil, 2, time.Now())
	m.ConfigReloads.WithLabelValues("success").Inc()
	m.TokenCacheHits.WithLabelValues("corp").Inc()
	m.TokenCacheMisses.WithLabelValues("corp").Inc()
	m.TokenCacheEvictions.WithLabelValues("corp").Inc()
	m.TokenCacheEntries.WithLabelValues("corp").Set(1)
	in := m.Introspection.Issuer("corp")
	in.Called(metrics.IntrospectionActive, time.Millisecond)
	in.CacheHit()
	in.CacheMiss()
	in.CacheEntries(1)
	m.Revocation.Refreshed("corp", nil, 3, time.Now())
	m.TLS.Serving(time.Now().Add(time.Hour))
	m.RateLimitRoute("orders", "per-sub").Allowed.Inc()
	m.RateLimitStoreCall(time.Millisecond, nil)
	m.RateLimitFallback("local")
	m.Tracing.Exported.Inc()
	m.Tracing.Dropped.WithLabelValues(metrics.SpansQueueFull).Inc()

	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	families := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		families[mf.GetName()] = mf
	}

	// A collector added to metrics.Metrics but not recorded above would be
	// missing from the exposed set: make that a failure that says what to do.
	collectorType := reflect.TypeFor[prometheus.Collector]()
	registryType := reflect.TypeFor[*prometheus.Registry]()
	var fields []string
	mt := reflect.TypeFor[metrics.Metrics]()
	for i := range mt.NumField() {
		if ft := mt.Field(i).Type; ft != registryType && ft.Implements(collectorType) {
			fields = append(fields, mt.Field(i).Name)
		}
	}
	// The collector sets of opaque tokens and revocation lists.
	for _, c := range m.Introspection.Collectors() {
		fields = append(fields, fmt.Sprintf("Introspection.%T", c))
	}
	for _, c := range m.Revocation.Collectors() {
		fields = append(fields, fmt.Sprintf("Revocation.%T", c))
	}
	// The proxy listener's certificate (server.tls).
	for _, c := range m.TLS.Collectors() {
		fields = append(fields, fmt.Sprintf("TLS.%T", c))
	}
	// The shared rate-limit store's (rate_limit_store).
	for _, c := range m.RateLimitStore.Collectors() {
		fields = append(fields, fmt.Sprintf("RateLimitStore.%T", c))
	}
	// OpenTelemetry span export (tracing).
	for _, c := range m.Tracing.Collectors() {
		fields = append(fields, fmt.Sprintf("Tracing.%T", c))
	}
	var ours []string
	for name := range families {
		if strings.HasPrefix(name, "portcullis_") {
			ours = append(ours, name)
		}
	}
	if len(ours) != len(fields) {
		slices.Sort(ours)
		t.Fatalf("metrics.Metrics has %d collectors (%s) but %d portcullis_ families were gathered (%s): record one sample of every collector in exposedFamilies",
			len(fields), strings.Join(fields, ", "), len(ours), strings.Join(ours, ", "))
	}
	return families
}

// seriesNames are the names PromQL can select from the families: a
// histogram's _bucket, _sum and _count, a summary's quantiles, _sum and
// _count, and the Prometheus-made series.
func seriesNames(families map[string]*dto.MetricFamily) map[string]bool {
	names := map[string]bool{}
	for name, mf := range families {
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name], names[name+"_sum"], names[name+"_count"] = true, true, true
		default:
			names[name] = true
		}
	}
	for _, name := range prometheusSeries {
		names[name] = true
	}
	return names
}

// promqlReserved are PromQL words that are never metric names: aggregation
// operators, binary operators and modifiers.
var promqlReserved = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true, "limitk": true, "limit_ratio": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"bool": true, "and": true, "or": true, "unless": true, "atan2": true, "offset": true,
	"inf": true, "nan": true, "start": true, "end": true,
}

// labelLists are the words followed by a parenthesized list of label names.
var labelLists = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// metricNames returns, in order of appearance, the metric names a PromQL
// expression selects. It reads the expression the way the PromQL lexer
// does, as far as names are concerned: label matchers ({...}), ranges and
// subqueries ([...]), strings, numbers and durations, Grafana variables
// ($name), function calls and label lists after by/on/... are skipped; any
// other identifier is a metric name. The expression is assumed to parse
// (promtool checks that separately).
func metricNames(expr string) []string {
	var names []string
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isIdent := func(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }
	skipString := func(i int) int { // at an opening quote; returns the index after the closing one
		q := expr[i]
		for i++; i < len(expr) && expr[i] != q; i++ {
			if expr[i] == '\\' && q != '`' {
				i++
			}
		}
		return i + 1
	}
	skipTo := func(i int, closer byte) int { // past the matching closer, strings skipped
		for i++; i < len(expr) && expr[i] != closer; {
			if c := expr[i]; c == '"' || c == '\'' || c == '`' {
				i = skipString(i)
				continue
			}
			i++
		}
		return i + 1
	}
	nextNonSpace := func(i int) int {
		for i < len(expr) && strings.ContainsRune(" \t\r\n", rune(expr[i])) {
			i++
		}
		return i
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(i)
		case c == '{':
			i = skipTo(i, '}')
		case c == '[':
			i = skipTo(i, ']')
		case c == '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '$' || c >= '0' && c <= '9' || c == '.' && i+1 < len(expr) && expr[i+1] >= '0' && expr[i+1] <= '9':
			for i++; i < len(expr) && (isIdent(expr[i]) || expr[i] == '.'); i++ {
			}
		case isIdentStart(c):
			start := i
			for i < len(expr) && isIdent(expr[i]) {
				i++
			}
			word := expr[start:i]
			next := nextNonSpace(i)
			switch {
			case labelLists[word] && next < len(expr) && expr[next] == '(':
				i = skipTo(next, ')')
			case promqlReserved[word]:
			case next < len(expr) && expr[next] == '(':
				// a function call
			default:
				names = append(names, word)
			}
		default:
			i++
		}
	}
	return names
}

func TestMetricNamesReadsPromQL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, expr string
		want       []string
	}{
		{"a bare name", `up`, []string{"up"}},
		{"label matchers and their strings are not names", `a_total{code=~"5..", route!="x{y}"}`, []string{"a_total"}},
		{"functions, ranges and Grafana variables are not names", `rate(a_total{job=~"$job"}[$__rate_interval])`, []string{"a_total"}},
		{"aggregations with by and label lists", `sum by (route, le) (rate(h_bucket[5m]))`, []string{"h_bucket"}},
		{"aggregations with the clause after", `sum(rate(a_total[5m])) without (instance)`, []string{"a_total"}},
		{"vector matching with on and group_left", `a / on (job) group_left (x) sum by (job) (b)`, []string{"a", "b"}},
		{"numbers, durations and offsets", `time() - a > 3 * 900 and b offset 15m > 1e3`, []string{"a", "b"}},
		{"both sides of and / unless", `c > 0 unless c offset 15m`, []string{"c", "c"}},
		{"histogram_quantile's parameter", `histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))`, []string{"h_bucket"}},
		{"a name with a colon (recording rules)", `job:requests:rate5m`, []string{"job:requests:rate5m"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := metricNames(tc.expr); !slices.Equal(got, tc.want) {
				t.Errorf("metricNames(%q) = %q, want %q", tc.expr, got, tc.want)
			}
		})
	}
}

// dashboardQuery is one PromQL expression of the dashboard, and where it is.
type dashboardQuery struct {
	where string
	expr  string
}

// dashboard is the part of a Grafana dashboard these tests read.
type dashboard struct {
	UID         string  `json:"uid"`
	Title       string  `json:"title"`
	Panels      []panel `json:"panels"`
	Annotations struct {
		List []struct {
			Name       string          `json:"name"`
			Expr       string          `json:"expr"`
			Datasource json.RawMessage `json:"datasource"`
		} `json:"list"`
	} `json:"annotations"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource json.RawMessage `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID          int             `json:"id"`
	Type        string          `json:"type"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Datasource  json.RawMessage `json:"datasource"`
	GridPos     struct {
		X int `json:"x"`
		Y int `json:"y"`
		W int `json:"w"`
		H int `json:"h"`
	} `json:"gridPos"`
	Targets []struct {
		RefID        string `json:"refId"`
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(readFile(t, "grafana/portcullis.json")))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("grafana/portcullis.json is not a dashboard: %v", err)
	}
	return d
}

// allPanels flattens rows into their panels.
func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// labelValuesQuery is Grafana's label_values(selector, label) variable query.
var labelValuesQuery = regexp.MustCompile(`^\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)

// queries returns every PromQL expression of the dashboard: panel targets,
// annotations, and the selectors of label_values variable queries.
func (d dashboard) queries(t *testing.T) []dashboardQuery {
	t.Helper()
	var qs []dashboardQuery
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			qs = append(qs, dashboardQuery{fmt.Sprintf("panel %q target %s", p.Title, tg.RefID), tg.Expr})
		}
	}
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			qs = append(qs, dashboardQuery{fmt.Sprintf("annotation %q", a.Name), a.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: query is not {\"query\": ...}: %v", v.Name, err)
		}
		m := labelValuesQuery.FindStringSubmatch(q.Query)
		if m == nil {
			t.Fatalf("variable %s: query %q is not label_values(selector, label)", v.Name, q.Query)
		}
		qs = append(qs, dashboardQuery{fmt.Sprintf("variable %s", v.Name), m[1]})
	}
	return qs
}

func TestDashboardAndAlertsUseOnlyExposedMetrics(t *testing.T) {
	t.Parallel()
	families := exposedFamilies(t)
	exposed := seriesNames(families)

	var rules ruleFile
	if err := yaml.Unmarshal(readFile(t, "prometheus/alerts.yaml"), &rules); err != nil {
		t.Fatal(err)
	}
	var alertExprs []dashboardQuery
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alertExprs = append(alertExprs, dashboardQuery{"alert " + r.Alert + r.Record, r.Expr})
		}
	}
	d := loadDashboard(t)

	for _, tc := range []struct {
		name    string
		queries []dashboardQuery
	}{
		{"every dashboard query names only metrics the gateway exposes", d.queries(t)},
		{"every alert names only metrics the gateway exposes", alertExprs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.queries) == 0 {
				t.Fatal("no expressions found")
			}
			for _, q := range tc.queries {
				names := metricNames(q.expr)
				if len(names) == 0 {
					t.Errorf("%s: no metric name found in %q", q.where, q.expr)
				}
				for _, name := range names {
					if !exposed[name] {
						t.Errorf("%s: %s is not exposed by the gateway (expression %q)", q.where, name, q.expr)
					}
				}
			}
		})
	}

	t.Run("every portcullis metric is on the dashboard", func(t *testing.T) {
		used := map[string]bool{}
		for _, q := range d.queries(t) {
			for _, name := range metricNames(q.expr) {
				used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")] = true
			}
		}
		for _, name := range slices.Sorted(maps.Keys(families)) {
			if strings.HasPrefix(name, "portcullis_") && !used[name] {
				t.Errorf("%s is exposed but no panel shows it", name)
			}
		}
	})
}

// grafanaVariables stand in for the dashboard's variables when its queries
// are handed to promtool, which knows no Grafana.
var grafanaVariables = strings.NewReplacer(
	"$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h",
	"$job", ".*", "$instance", ".*", "$route", ".*", "$issuer", ".*",
)

func TestDashboardQueriesParse(t *testing.T) {
	t.Parallel()
	d := loadDashboard(t)
	// One recording rule per query: promtool check rules parses each with
	// Prometheus's own PromQL parser.
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rs []rule
	for i, q := range d.queries(t) {
		expr := grafanaVariables.Replace(q.expr)
		if strings.Contains(expr, "$") {
			t.Errorf("%s: a Grafana variable this test does not know: %q", q.where, q.expr)
		}
		rs = append(rs, rule{Record: fmt.Sprintf("dashboard:query_%d", i), Expr: expr})
	}
	out, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rs}}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard-rules.yaml"), out, 0o600); err != nil {
		t.Fatal(err)
	}
	code, msg := promtool(t, dir, "check", "rules", "dashboard-rules.yaml")
	if code != 0 {
		t.Errorf("promtool check rules on the dashboard's queries: exit code %d:\n%s\n(rule i is the i-th query: panels in order, then annotations, then variables)", code, msg)
	}
}

func TestDashboardLayout(t *testing.T) {
	t.Parallel()
	d := loadDashboard(t)
	if d.UID != "portcullis" || d.Title == "" {
		t.Errorf("uid %q, title %q: want uid portcullis (links to it stay stable) and a title", d.UID, d.Title)
	}
	const dsVar = `"${datasource}"`
	ids := map[int]string{}
	type cell struct{ x, y int }
	taken := map[cell]string{}
	for _, p := range d.allPanels() {
		if prev, ok := ids[p.ID]; ok {
			t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v is outside the 24-column grid", p.Title, g)
		}
	cells:
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := taken[cell{x, y}]; ok {
					t.Errorf("panels %q and %q overlap at (%d,%d)", other, p.Title, x, y)
					break cells
				}
				taken[cell{x, y}] = p.Title
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Description == "" {
			t.Errorf("panel %q has no description: say what it shows and what to do about it", p.Title)
		}
		if !strings.Contains(string(p.Datasource), dsVar) {
			t.Errorf("panel %q: datasource %s, want the ${datasource} variable", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refs[tg.RefID] || tg.Expr == "" {
				t.Errorf("panel %q: target %+v needs a unique refId and an expr", p.Title, tg)
			}
			refs[tg.RefID] = true
		}
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" && !strings.Contains(string(v.Datasource), dsVar) {
			t.Errorf("variable %s: datasource %s, want the ${datasource} variable", v.Name, v.Datasource)
		}
	}
	// The issue asks for these views; a title may change, the metric may not.
	views := map[string]string{
		"request rate by route and code": "portcullis_requests_total",
		"latency percentiles":            "histogram_quantile",
		"auth decisions":                 "portcullis_auth_decisions_total",
		"failure reasons":                "portcullis_auth_failures_total",
		"JWKS freshness":                 "portcullis_jwks_last_success_timestamp_seconds",
		"JWKS key counts":                "portcullis_jwks_keys",
		"reloads":                        "portcullis_config_reloads_total",
		"audit mode":                     `mode="audit"`,
		"introspection":                  "portcullis_introspection_requests_total",
		"revocation lists":               "portcullis_revocation_last_success_timestamp_seconds",
	}
	for view, needle := range views {
		found := false
		for _, q := range d.queries(t) {
			found = found || strings.Contains(q.expr, needle)
		}
		if !found {
			t.Errorf("the dashboard has no %s view (no query uses %s)", view, needle)
		}
	}
}
