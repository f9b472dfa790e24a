package demo

// network is a public range with where it is and who runs it. The ranges
// are real allocations in the places named (they agree with MaxMind's test
// data and GeoLite2), so a demo with a real City database resolves them to
// roughly the same spots, and one without still gets these coordinates from
// the events themselves, the way authentik sends them.
type network struct {
	prefix                   string // a.b.c. or a.b. (the generator fills the rest)
	city, country, continent string
	lat, lon                 float64
	asn                      uint32
	org, cidr                string
	weight                   float64
}

var networks = []network{
	// Europe
	{"81.2.69.", "London", "GB", "EU", 51.5142, -0.0931, 20712, "Andrews & Arnold Ltd", "81.2.64.0/19", 9},
	{"2.125.160.", "Boxford", "GB", "EU", 51.75, -1.25, 5607, "Sky UK Limited", "2.120.0.0/13", 3},
	{"89.160.20.", "Linköping", "SE", "EU", 58.4167, 15.6167, 29518, "Bredband2 AB", "89.160.0.0/17", 3},
	{"5.4.", "Berlin", "DE", "EU", 52.5244, 13.4105, 6805, "Telefonica Germany", "5.4.0.0/14", 10},
	{"37.120.", "Paris", "FR", "EU", 48.8566, 2.3522, 3215, "Orange", "37.120.0.0/16", 6},
	{"31.13.64.", "Dublin", "IE", "EU", 53.3498, -6.2603, 32934, "Facebook, Inc.", "31.13.64.0/18", 2},
	{"95.173.", "Moscow", "RU", "EU", 55.7558, 37.6173, 12389, "Rostelecom", "95.173.0.0/16", 1},
	// North America
	{"216.160.83.", "Milton", "US", "NA", 47.2513, -122.3149, 209, "CenturyLink Communications, LLC", "216.160.83.0/24", 6},
	{"12.81.92.", "Dallas", "US", "NA", 32.7767, -96.797, 7018, "AT&T Services", "12.81.92.0/22", 8},
	{"200.68.", "Mexico City", "MX", "NA", 19.4326, -99.1332, 8151, "Uninet S.A. de C.V.", "200.68.0.0/16", 2},
	{"24.114.", "Toronto", "CA", "NA", 43.6532, -79.3832, 812, "Rogers Communications Canada Inc.", "24.114.0.0/16", 4},
	// South America
	{"187.0.", "São Paulo", "BR", "SA", -23.5505, -46.6333, 28573, "Claro NXT Telecomunicacoes Ltda", "187.0.0.0/16", 4},
	{"181.0.", "Buenos Aires", "AR", "SA", -34.6037, -58.3816, 7303, "Telecom Argentina S.A.", "181.0.0.0/16", 2},
	// Africa
	{"41.0.", "Johannesburg", "ZA", "AF", -26.2041, 28.0473, 29975, "Vodacom", "41.0.0.0/16", 2},
	{"102.88.", "Lagos", "NG", "AF", 6.5244, 3.3792, 29465, "MTN Nigeria", "102.88.0.0/16", 1},
	{"154.70.", "Nairobi", "KE", "AF", -1.2921, 36.8219, 37061, "Safaricom Limited", "154.70.0.0/16", 1},
	// Asia
	{"175.16.199.", "Changchun", "CN", "AS", 43.88, 125.3228, 4837, "CHINA UNICOM China169 Backbone", "175.16.0.0/15", 1},
	{"126.0.", "Tokyo", "JP", "AS", 35.6895, 139.6917, 17676, "SoftBank Corp.", "126.0.0.0/16", 4},
	{"49.36.", "Mumbai", "IN", "AS", 19.076, 72.8777, 55836, "Reliance Jio Infocomm Limited", "49.36.0.0/16", 4},
	{"118.200.", "Singapore", "SG", "AS", 1.3521, 103.8198, 9506, "Singtel Fibre Broadband", "118.200.0.0/16", 2},
	// Oceania
	{"1.128.", "Sydney", "AU", "OC", -33.8688, 151.2093, 1221, "Telstra Pty Ltd", "1.128.0.0/11", 3},
	{"202.124.", "Auckland", "NZ", "OC", -36.8485, 174.7633, 9790, "One New Zealand", "202.124.0.0/16", 1},
}

// torNetwork is where suspicious traffic comes from: a Tor exit range, as
// in MaxMind's Anonymous-IP test data.
var torNetwork = network{"185.220.101.", "Brandenburg", "DE", "EU", 52.6171, 13.1207, 60729, "Stiftung Erneuerbare Freiheit", "185.220.100.0/22", 0}

var firstNames = []string{
	"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
	"mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "wendy",
	"amara", "bao", "chen", "dmitri", "elif", "farah", "giulia", "hiro", "ines", "jonas",
	"kemal", "lena", "mateo", "nadia", "oskar", "priya", "quentin", "rosa", "sven", "tariq",
}

var lastNames = []string{
	"smith", "jones", "garcia", "muller", "rossi", "dubois", "tanaka", "kowalski", "silva", "nguyen",
	"olsen", "novak", "haddad", "kim", "okafor", "petrov", "schmidt", "lopez", "andersson", "ito",
}

var emailDomains = []string{"example.com", "corp.example", "example.org"}

var applications = []struct{ slug, name string }{
	{"grafana", "Grafana"}, {"gitlab", "GitLab"}, {"nextcloud", "Nextcloud"}, {"vault", "Vault"},
	{"argocd", "Argo CD"}, {"jenkins", "Jenkins"}, {"proxmox", "Proxmox VE"}, {"wiki", "Wiki.js"},
	{"mail", "Roundcube"}, {"minio", "MinIO Console"}, {"portainer", "Portainer"}, {"sentry", "Sentry"},
}

var groups = []string{"admins", "developers", "ops", "finance", "support", "contractors", "security", "readonly"}

var userAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
}

var suspiciousAgents = []string{"python-requests/2.32.3", "curl/8.11.0", "Go-http-client/1.1", "sqlmap/1.8.11#stable"}

// actionMix is authentik's action names with a plausible share of a busy
// instance: mostly logins and application authorizations, a steady trickle
// of admin changes, and rare errors.
var actionMix = []struct {
	action string
	weight float64
}{
	{"login", 26}, {"authorize_application", 18}, {"logout", 10}, {"login_failed", 7},
	{"flow_execution", 4}, {"policy_execution", 3}, {"system_task_execution", 4}, {"email_sent", 2},
	{"model_updated", 5}, {"model_created", 2}, {"model_deleted", 1},
	{"password_set", 1.5}, {"secret_view", 1}, {"secret_rotate", 0.3}, {"user_write", 1},
	{"suspicious_request", 0.8}, {"policy_exception", 0.4}, {"property_mapping_exception", 0.2},
	{"configuration_error", 0.3}, {"configuration_warning", 0.3}, {"system_exception", 0.2},
	{"system_task_exception", 0.2}, {"impersonation_started", 0.3}, {"impersonation_ended", 0.3},
	{"invitation_used", 0.4}, {"source_linked", 0.4}, {"update_available", 0.05},
}

// appFor is the authentik module that emits an action.
var appFor = map[string]string{
	"login": "authentik.events.signals", "logout": "authentik.events.signals",
	"login_failed": "authentik.events.signals", "user_write": "authentik.events.signals",
	"password_set":          "authentik.core.signals",
	"authorize_application": "authentik.providers.oauth2.views.authorize",
	"flow_execution":        "authentik.flows.views.executor",
	"policy_execution":      "authentik.policies.process", "policy_exception": "authentik.policies.process",
	"property_mapping_exception": "authentik.core.expression.evaluator",
	"system_task_execution":      "authentik.events.system_tasks", "system_task_exception": "authentik.events.system_tasks",
	"email_sent":    "authentik.stages.email.tasks",
	"model_created": "authentik.events.middleware", "model_updated": "authentik.events.middleware",
	"model_deleted": "authentik.events.middleware",
	"secret_view":   "authentik.core.api.tokens", "secret_rotate": "authentik.core.tasks",
	"suspicious_request":    "authentik.stages.identification.stage",
	"configuration_error":   "authentik.outposts.controllers.kubernetes",
	"configuration_warning": "authentik.outposts.tasks",
	"system_exception":      "authentik.root.middleware",
	"impersonation_started": "authentik.core.views.impersonate", "impersonation_ended": "authentik.core.views.impersonate",
	"invitation_used":  "authentik.stages.invitation.stage",
	"source_linked":    "authentik.sources.oauth.views.callback",
	"update_available": "authentik.admin.tasks",
}

var systemTasks = []string{"clean_expired_models", "outpost_controller", "ldap_sync", "certificate_discovery", "update_latest_version", "blueprints_discovery"}
