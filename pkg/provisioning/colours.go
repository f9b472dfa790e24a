package provisioning

import "strings"

// Category is a family of actions drawn in one hue on every dashboard.
type Category string

// The colour families. Within a family each action has its own shade, so a
// stacked chart still tells them apart.
const (
	SignIn     Category = "sign-in"    // green
	Failure    Category = "failure"    // red
	Change     Category = "change"     // blue
	Error      Category = "error"      // orange
	Privileged Category = "privileged" // purple
	Warning    Category = "warning"    // yellow
	Activity   Category = "activity"   // grey: routine, high-volume
)

// ActionColour is the fixed colour of one action: a Grafana named colour or
// a hex colour, as used in a panel's "color" override (mode "fixed").
type ActionColour struct {
	Action   string
	Category Category
	Colour   string
}

// ActionColours is the one definition of the action colours. Every
// dashboard's per-action overrides and value mappings must agree with it
// (TestActionColours checks). Actions not listed get the panel's palette.
var ActionColours = []ActionColour{
	{"login", SignIn, "green"},
	{"authorize_application", SignIn, "dark-green"},
	{"source_linked", SignIn, "semi-dark-green"},
	{"invitation_used", SignIn, "light-green"},
	{"logout", SignIn, "super-light-green"},

	{"login_failed", Failure, "red"},
	{"suspicious_request", Failure, "dark-red"},
	{"policy_exception", Failure, "semi-dark-red"},
	{"access_request_denied", Failure, "light-red"},

	{"model_created", Change, "light-blue"},
	{"model_updated", Change, "blue"},
	{"model_deleted", Change, "dark-blue"},
	{"password_set", Change, "semi-dark-blue"},
	{"user_write", Change, "super-light-blue"},

	{"system_exception", Error, "dark-orange"},
	{"configuration_error", Error, "orange"},
	{"property_mapping_exception", Error, "semi-dark-orange"},
	{"system_task_exception", Error, "light-orange"},

	{"impersonation_started", Privileged, "purple"},
	{"impersonation_ended", Privileged, "light-purple"},
	{"secret_view", Privileged, "semi-dark-purple"},
	{"secret_rotate", Privileged, "dark-purple"},

	{"configuration_warning", Warning, "yellow"},
	{"update_available", Warning, "light-yellow"},

	{"flow_execution", Activity, "#8e8e8e"},
	{"policy_execution", Activity, "#b0b0b0"},
	{"system_task_execution", Activity, "#6e6e6e"},
	{"email_sent", Activity, "#c8c8c8"},
}

// CategoryHue is the Grafana hue of each category; named colours of a
// category must be a shade of it ("dark-green", "green", ...).
var CategoryHue = map[Category]string{
	SignIn:     "green",
	Failure:    "red",
	Change:     "blue",
	Error:      "orange",
	Privileged: "purple",
	Warning:    "yellow",
	Activity:   "", // hex greys
}

// ColourOf returns the fixed colour of an action.
func ColourOf(action string) (string, bool) {
	for _, c := range ActionColours {
		if c.Action == action {
			return c.Colour, true
		}
	}
	return "", false
}

// Actions are authentik's event actions (EventAction, migration
// 0020_alter_event_action). The set is open: "custom_" + anything is valid.
var Actions = []string{
	"login", "login_failed", "logout", "user_write", "suspicious_request",
	"password_set", "secret_view", "secret_rotate", "invitation_used",
	"authorize_application", "source_linked", "impersonation_started",
	"impersonation_ended", "flow_execution", "policy_execution",
	"policy_exception", "property_mapping_exception", "system_task_execution",
	"system_task_exception", "system_exception", "configuration_error",
	"configuration_warning", "model_created", "model_updated", "model_deleted",
	"email_sent", "update_available", "export_ready", "review_initiated",
	"review_overdue", "review_attested", "review_completed",
	"access_request_created", "access_request_approved",
	"access_request_denied", "access_request_revoked",
}

// KnownAction reports whether a is an authentik action or a custom_ one.
func KnownAction(a string) bool {
	if strings.HasPrefix(a, "custom_") && len(a) > len("custom_") {
		return true
	}
	for _, x := range Actions {
		if x == a {
			return true
		}
	}
	return false
}
