// Package demo generates realistic, deterministic audit events in
// authentik's API shape: its action names in a plausible mix, users whose
// activity follows a Zipf law, client IPs spread over the world with geo
// and ASN context, diffs on model changes, and a failed-login burst from a
// Tor exit. The demo server seeds from it, and the benchmarks use it as
// their fixed data set.
package demo

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/auditlog/auditlog/pkg/event"
)

// Generate returns n events spread over [from, to), oldest first. The same
// arguments always give the same events, ids included, so re-seeding a
// store with them is deduplicated.
func Generate(seed int64, n int, from, to time.Time) []event.Event {
	raws := GenerateRaw(seed, n, from, to)
	out := make([]event.Event, len(raws))
	for i, raw := range raws {
		out[i] = mustDecode(raw)
	}
	return out
}

// GenerateRaw is Generate in authentik's API JSON, one object per event, as
// an authentik instance or an import would send them.
func GenerateRaw(seed int64, n int, from, to time.Time) [][]byte {
	g := NewGenerator(seed)
	times, burst := g.times(n, from, to)
	out := make([][]byte, len(times))
	for i, t := range times {
		if burst[i] {
			out[i] = g.attack(t)
		} else {
			out[i] = g.Raw(t)
		}
	}
	return out
}

func mustDecode(raw []byte) event.Event {
	e, err := event.Decode(raw)
	if err != nil {
		// The generator's own output: a failure is a bug here, which the
		// package's tests catch.
		panic(fmt.Sprintf("demo: generated event does not decode: %v: %s", err, raw))
	}
	return e
}

// Generator makes one event at a time, for a live trickle.
type Generator struct {
	r      *rand.Rand
	users  []user
	admins []int // indexes into users
	zipf   *rand.Zipf
	netCum []float64
	actCum []float64
	brand  map[string]any
	seq    uint64
}

type user struct {
	pk              int
	username, email string
	home            int    // index into networks
	host            string // the stable last octets of the home IP
}

// NewGenerator returns a generator whose sequence depends only on seed.
func NewGenerator(seed int64) *Generator {
	r := rand.New(rand.NewPCG(uint64(seed), 0x5eed_a0d1_7109))
	g := &Generator{r: r}
	g.netCum = cumulative(len(networks), func(i int) float64 { return networks[i].weight })
	g.actCum = cumulative(len(actionMix), func(i int) float64 { return actionMix[i].weight })
	g.brand = map[string]any{"pk": hex.EncodeToString(g.bytes(16)), "app": "authentik_brands", "name": "Default brand", "model_name": "brand"}

	g.users = append(g.users, user{pk: 1, username: "akadmin", email: "admin@corp.example", home: g.pickNetwork(), host: g.host()})
	seen := map[string]bool{"akadmin": true}
	for len(g.users) < 400 {
		name := firstNames[r.IntN(len(firstNames))] + "." + lastNames[r.IntN(len(lastNames))]
		for seen[name] {
			name += strconv.Itoa(r.IntN(10))
		}
		seen[name] = true
		g.users = append(g.users, user{
			pk: 10 + len(g.users), username: name, email: name + "@" + emailDomains[r.IntN(len(emailDomains))],
			home: g.pickNetwork(), host: g.host(),
		})
	}
	g.admins = []int{0, 0, 0, 3, 7, 12} // akadmin does most of the administration
	g.zipf = rand.NewZipf(r, 1.15, 1, uint64(len(g.users)-2))
	return g
}

func cumulative(n int, w func(int) float64) []float64 {
	out := make([]float64, n)
	sum := 0.0
	for i := range n {
		sum += w(i)
		out[i] = sum
	}
	return out
}

func (g *Generator) pick(cum []float64) int {
	x := g.r.Float64() * cum[len(cum)-1]
	i, _ := slices.BinarySearch(cum, x)
	return min(i, len(cum)-1)
}

func (g *Generator) pickNetwork() int { return g.pick(g.netCum) }

func (g *Generator) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.UintN(256))
	}
	return b
}

func (g *Generator) host() string {
	return strconv.Itoa(1+g.r.IntN(250)) + "." + strconv.Itoa(1+g.r.IntN(250))
}

// ip returns an address in n: prefixes are "a.b." or "a.b.c.".
func (g *Generator) ip(n network, host string) string {
	parts := strings.Count(n.prefix, ".")
	if parts == 3 {
		host = host[strings.IndexByte(host, '.')+1:]
	}
	return n.prefix + host
}

// id is a UUIDv7 carrying t, from the generator's randomness so that it is
// reproducible.
func (g *Generator) id(t time.Time) string {
	var u uuid.UUID
	copy(u[:], g.bytes(16))
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(t.UnixMilli()))
	copy(u[0:6], ts[2:8])
	u[6] = (u[6] & 0x0f) | 0x70
	u[8] = (u[8] & 0x3f) | 0x80
	return u.String()
}

func (g *Generator) requestID() string { return hex.EncodeToString(g.bytes(16)) }

func (g *Generator) regularUser() *user { return &g.users[1+int(g.zipf.Uint64())] }

func (g *Generator) adminUser() *user { return &g.users[g.admins[g.r.IntN(len(g.admins))]] }

// Event returns one event at time t.
func (g *Generator) Event(t time.Time) event.Event { return mustDecode(g.Raw(t)) }

// ak is an event in authentik's API shape.
type ak struct {
	PK       string         `json:"pk"`
	User     map[string]any `json:"user"`
	Action   string         `json:"action"`
	App      string         `json:"app"`
	Context  map[string]any `json:"context"`
	ClientIP *string        `json:"client_ip"`
	Created  string         `json:"created"`
	Brand    map[string]any `json:"brand"`
}

func userJSON(u *user) map[string]any {
	return map[string]any{"pk": u.pk, "username": u.username, "email": u.email}
}

var systemUser = map[string]any{"pk": 2, "username": "AnonymousUser", "email": ""}

func ref(app, model, pk, name string) map[string]any {
	return map[string]any{"app": app, "model_name": model, "pk": pk, "name": name}
}

func httpRequest(method, path string, args map[string]any, ua, reqID string) map[string]any {
	r := map[string]any{"path": path, "method": method, "user_agent": ua, "request_id": reqID}
	if len(args) > 0 {
		r["args"] = args
	}
	return r
}

// Raw returns one event at time t in authentik's API JSON.
func (g *Generator) Raw(t time.Time) []byte {
	action := actionMix[g.pick(g.actCum)].action
	e := ak{
		PK: g.id(t), Action: action, App: appFor[action],
		Created: t.UTC().Format("2006-01-02T15:04:05.000000Z"), Brand: g.brand,
	}
	u := g.regularUser()
	if isAdminAction(action) {
		u = g.adminUser()
	}
	e.User = userJSON(u)
	ua := userAgents[(u.pk+g.r.IntN(3))%len(userAgents)]
	net := networks[u.home]
	host := u.host
	if g.r.Float64() < 0.15 { // travelling, on mobile data, on a VPN
		net, host = networks[g.pickNetwork()], g.host()
	}
	ip := g.ip(net, host)
	ctx := map[string]any{}
	req := g.requestID()

	switch action {
	case "login":
		method, args := "password", map[string]any{}
		if x := g.r.Float64(); x < 0.3 {
			method = "auth_mfa"
			args = map[string]any{"mfa_devices": []any{ref("authentik_stages_authenticator_totp", "totpdevice", strconv.Itoa(100+u.pk), "TOTP Device")}}
		} else if x < 0.38 {
			method = "auth_webauthn_pwl"
		}
		ctx["auth_method"], ctx["auth_method_args"] = method, args
		ctx["http_request"] = httpRequest("POST", "/api/v3/flows/executor/default-authentication-flow/", map[string]any{"query": "next=%2F"}, ua, req)
	case "logout":
		ctx["http_request"] = httpRequest("GET", "/flows/-/default/invalidation/", nil, ua, req)
	case "login_failed":
		name := u.username
		if g.r.Float64() < 0.3 { // typos and guesses
			name = firstNames[g.r.IntN(len(firstNames))]
		}
		ctx["username"] = name
		ctx["password"] = "********************"
		ctx["stage"] = ref("authentik_stages_password", "passwordstage", hex.EncodeToString(g.bytes(16)), "default-authentication-password")
		ctx["http_request"] = httpRequest("POST", "/api/v3/flows/executor/default-authentication-flow/", nil, ua, req)
	case "authorize_application":
		a := applications[g.r.IntN(len(applications))]
		ctx["authorized_application"] = ref("authentik_core", "application", hex.EncodeToString([]byte(a.slug + "-app-pk-padd"))[:32], a.name)
		ctx["flow"] = "53287faa-7a6a-4e2b-9c2d-0f4c2a5e1b7d"
		ctx["scopes"] = "openid email profile"
		ctx["http_request"] = httpRequest("GET", "/application/o/authorize/", map[string]any{"client_id": a.slug, "response_type": "code", "scope": "openid email profile"}, ua, req)
	case "flow_execution":
		ctx["flow"] = ref("authentik_flows", "flow", hex.EncodeToString(g.bytes(16)), []string{"default-authentication-flow", "default-enrollment-flow", "default-recovery-flow"}[g.r.IntN(3)])
		ctx["http_request"] = httpRequest("GET", "/if/flow/default-authentication-flow/", nil, ua, req)
	case "policy_execution":
		ctx["policy"] = ref("authentik_policies_expression", "expressionpolicy", hex.EncodeToString(g.bytes(16)), "require-group-membership")
		ctx["result"] = map[string]any{"passing": g.r.Float64() < 0.9, "messages": []string{}}
		ctx["http_request"] = httpRequest("GET", "/application/o/authorize/", nil, ua, req)
	case "model_created", "model_updated", "model_deleted":
		g.modelChange(action, ctx, ua, req)
	case "password_set":
		ctx["http_request"] = httpRequest("POST", "/api/v3/flows/executor/default-password-change/", nil, ua, req)
	case "user_write":
		ctx["email"], ctx["name"], ctx["created"] = u.email, u.username, false
		ctx["http_request"] = httpRequest("POST", "/api/v3/flows/executor/default-user-settings-flow/", nil, ua, req)
	case "secret_view", "secret_rotate":
		name := "svc-" + applications[g.r.IntN(len(applications))].slug + "-token"
		ctx["secret"] = ref("authentik_core", "token", strconv.Itoa(g.r.IntN(500)), name)
		ctx["http_request"] = httpRequest("GET", "/api/v3/core/tokens/"+name+"/view_key/", nil, ua, req)
	case "impersonation_started", "impersonation_ended":
		target := g.regularUser()
		ctx["impersonated_user"] = userJSON(target)
		ctx["reason"] = "support ticket #" + strconv.Itoa(1000+g.r.IntN(9000))
		ctx["http_request"] = httpRequest("GET", "/-/impersonation/"+strconv.Itoa(target.pk)+"/", nil, ua, req)
	case "invitation_used":
		ctx["invitation_uuid"] = uuid.UUID(g.bytes(16)).String()
		ctx["http_request"] = httpRequest("POST", "/api/v3/flows/executor/default-enrollment-flow/", map[string]any{"itoken": "…"}, ua, req)
	case "source_linked":
		ctx["source"] = ref("authentik_sources_oauth", "oauthsource", hex.EncodeToString(g.bytes(16)), []string{"GitHub", "Google", "Azure AD"}[g.r.IntN(3)])
		ctx["http_request"] = httpRequest("GET", "/source/oauth/callback/github/", nil, ua, req)
	case "suspicious_request":
		net, ip = torNetwork, g.ip(torNetwork, g.host())
		ctx["message"] = "Request blocked: reputation score below threshold"
		ctx["identifier"] = u.username
		ctx["http_request"] = httpRequest("POST", "/api/v3/flows/executor/default-authentication-flow/", nil, suspiciousAgents[g.r.IntN(len(suspiciousAgents))], req)
	default:
		// Background work: no person behind it and an internal address.
		e.User = systemUser
		ip = "10.42." + strconv.Itoa(g.r.IntN(4)) + "." + strconv.Itoa(2+g.r.IntN(250))
		g.systemContext(action, ctx)
	}
	e.ClientIP = &ip
	if !strings.HasPrefix(ip, "10.") {
		g.geo(ctx, net)
	}
	e.Context = ctx
	b, err := json.Marshal(e)
	if err != nil {
		panic(fmt.Sprintf("demo: marshal: %v", err)) // maps of plain values always marshal
	}
	return b
}

func isAdminAction(a string) bool {
	switch a {
	case "model_created", "model_updated", "model_deleted", "secret_view", "secret_rotate",
		"impersonation_started", "impersonation_ended":
		return true
	}
	return false
}

// geo adds authentik's context processors' output.
func (g *Generator) geo(ctx map[string]any, n network) {
	ctx["geo"] = map[string]any{"continent": n.continent, "country": n.country, "city": n.city, "lat": n.lat, "long": n.lon}
	ctx["asn"] = map[string]any{"asn": n.asn, "as_org": n.org, "network": n.cidr}
}

func (g *Generator) modelChange(action string, ctx map[string]any, ua, req string) {
	method := map[string]string{"model_created": "POST", "model_updated": "PATCH", "model_deleted": "DELETE"}[action]
	switch g.r.IntN(4) {
	case 0, 1: // users change most
		u := g.regularUser()
		ctx["model"] = ref("authentik_core", "user", strconv.Itoa(u.pk), u.username)
		ctx["http_request"] = httpRequest(method, "/api/v3/core/users/"+strconv.Itoa(u.pk)+"/", nil, ua, req)
		switch action {
		case "model_updated":
			if g.r.IntN(3) == 0 {
				ctx["diff"] = map[string]any{"is_active": map[string]any{"previous_value": true, "new_value": false}}
			} else {
				local, _, _ := strings.Cut(u.email, "@")
				ctx["diff"] = map[string]any{
					"email":        map[string]any{"previous_value": u.email, "new_value": local + "@" + emailDomains[g.r.IntN(len(emailDomains))]},
					"last_updated": map[string]any{"previous_value": "2025-01-01T00:00:00Z", "new_value": "2025-06-01T00:00:00Z"},
				}
			}
		case "model_created":
			ctx["diff"] = map[string]any{
				"username":  map[string]any{"previous_value": nil, "new_value": u.username},
				"email":     map[string]any{"previous_value": nil, "new_value": u.email},
				"is_active": map[string]any{"previous_value": nil, "new_value": true},
			}
		case "model_deleted":
			ctx["model_state"] = map[string]any{"username": u.username, "email": u.email, "is_active": false}
		}
	case 2: // group memberships: authentik's many-to-many diff
		grp := groups[g.r.IntN(len(groups))]
		ctx["model"] = ref("authentik_core", "group", hex.EncodeToString(g.bytes(16)), grp)
		ctx["http_request"] = httpRequest(method, "/api/v3/core/groups/"+grp+"/", nil, ua, req)
		if action != "model_deleted" {
			members := []int{g.regularUser().pk, g.regularUser().pk}
			key := "add"
			if g.r.IntN(3) == 0 {
				key = "remove"
			}
			ctx["diff"] = map[string]any{"users": map[string]any{key: members}}
		}
	default:
		a := applications[g.r.IntN(len(applications))]
		ctx["model"] = ref("authentik_core", "application", hex.EncodeToString([]byte(a.slug + "-app-pk-padd"))[:32], a.name)
		ctx["http_request"] = httpRequest(method, "/api/v3/core/applications/"+a.slug+"/", nil, ua, req)
		if action != "model_deleted" {
			var prev any = "https://" + a.slug + ".corp.example/"
			if action == "model_created" {
				prev = nil
			}
			ctx["diff"] = map[string]any{"meta_launch_url": map[string]any{"previous_value": prev, "new_value": "https://" + a.slug + ".example.com/"}}
		}
	}
}

func (g *Generator) systemContext(action string, ctx map[string]any) {
	task := systemTasks[g.r.IntN(len(systemTasks))]
	switch action {
	case "system_task_execution":
		ctx["name"], ctx["status"] = task, "successful"
		ctx["duration"] = float64(g.r.IntN(5000)) / 1000
		ctx["messages"] = []string{"Finished " + task}
	case "system_task_exception", "system_exception":
		ctx["name"] = task
		ctx["message"] = "Task " + task + " raised an exception"
		ctx["exception"] = "Traceback (most recent call last):\n  File \"/authentik/events/system_tasks.py\", line 80, in run\nConnectionError: database connection lost"
	case "configuration_error":
		ctx["message"] = "Failed to connect to Kubernetes cluster: certificate has expired"
		ctx["outpost"] = ref("authentik_outposts", "outpost", hex.EncodeToString(g.bytes(16)), "authentik Embedded Outpost")
	case "configuration_warning":
		ctx["message"] = "Outpost authentik Embedded Outpost is running an outdated version"
	case "policy_exception", "property_mapping_exception":
		ctx["message"] = "Expression raised an exception"
		ctx["expression"] = "return request.user.groups.filter(name=\"admins\").exists()"
		ctx["exception"] = "AttributeError: 'NoneType' object has no attribute 'groups'"
	case "email_sent":
		u := g.regularUser()
		ctx["message"] = "Email to " + u.email + " sent"
		ctx["subject"], ctx["to_email"], ctx["template"] = "Password reset", []string{u.email}, "email/password_reset.html"
	case "update_available":
		ctx["new_version"], ctx["message"] = "2025.10.2", "Changelog: https://goauthentik.io/docs/releases/2025.10"
	default:
		ctx["message"] = action
	}
}

// attack is one event of the failed-login burst: a password spray from a
// Tor exit against a handful of accounts.
func (g *Generator) attack(t time.Time) []byte {
	targets := []string{"akadmin", "admin", "root", g.users[1].username, g.users[2].username}
	name := targets[g.r.IntN(len(targets))]
	action := "login_failed"
	if g.r.IntN(8) == 0 {
		action = "suspicious_request"
	}
	ip := g.ip(torNetwork, g.host())
	ctx := map[string]any{
		"username":     name,
		"password":     "********************",
		"http_request": httpRequest("POST", "/api/v3/flows/executor/default-authentication-flow/", nil, suspiciousAgents[g.r.IntN(len(suspiciousAgents))], g.requestID()),
	}
	if action == "suspicious_request" {
		ctx["message"] = "Request blocked: reputation score below threshold"
		ctx["identifier"] = name
	}
	g.geo(ctx, torNetwork)
	b, err := json.Marshal(ak{
		PK: g.id(t), User: map[string]any{"pk": 2, "username": "AnonymousUser", "email": ""}, Action: action,
		App: appFor[action], Context: ctx, ClientIP: &ip, Created: t.UTC().Format("2006-01-02T15:04:05.000000Z"), Brand: g.brand,
	})
	if err != nil {
		panic(fmt.Sprintf("demo: marshal: %v", err))
	}
	return b
}

// hourWeight is activity by UTC hour: the demo's users sit mostly in
// Europe and the Americas.
var hourWeight = [24]float64{
	0.25, 0.2, 0.2, 0.2, 0.25, 0.35, 0.55, 0.8, 1, 1, 1, 0.95,
	0.9, 0.95, 1, 1, 0.95, 0.85, 0.7, 0.6, 0.5, 0.45, 0.35, 0.3,
}

// times returns n sorted times in [from, to) following a working-week
// rhythm, and which of them belong to the attack burst (2% of the events,
// within two hours at about 60% of the range).
func (g *Generator) times(n int, from, to time.Time) ([]time.Time, []bool) {
	span := to.Sub(from)
	if n <= 0 || span <= 0 {
		return nil, nil
	}
	type tb struct {
		t     time.Time
		burst bool
	}
	out := make([]tb, 0, n)
	nBurst := n / 50
	burstStart := from.Add(span * 6 / 10)
	burstSpan := min(2*time.Hour, span/10)
	for range nBurst {
		out = append(out, tb{burstStart.Add(time.Duration(g.r.Int64N(int64(burstSpan) + 1))), true})
	}
	for len(out) < n {
		t := from.Add(time.Duration(g.r.Int64N(int64(span))))
		w := hourWeight[t.UTC().Hour()]
		if wd := t.UTC().Weekday(); wd == time.Saturday || wd == time.Sunday {
			w *= 0.4
		}
		if g.r.Float64() < w {
			out = append(out, tb{t, false})
		}
	}
	slices.SortStableFunc(out, func(a, b tb) int { return a.t.Compare(b.t) })
	ts, burst := make([]time.Time, n), make([]bool, n)
	for i, x := range out {
		ts[i], burst[i] = x.t, x.burst
	}
	return ts, burst
}

// DropGeo removes an event's own geo and ASN data, in its fields and in
// authentik's context keys, so that ingest enriches it from the GeoIP
// database instead.
func DropGeo(e *event.Event) {
	e.Geo, e.ASN = nil, nil
	if len(e.Context) == 0 {
		return
	}
	var ctx map[string]json.RawMessage
	if err := json.Unmarshal(e.Context, &ctx); err != nil {
		return
	}
	delete(ctx, "geo")
	delete(ctx, "asn")
	if b, err := json.Marshal(ctx); err == nil {
		e.Context = b
	}
}
