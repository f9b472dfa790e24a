package query

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// TailPathPrefix starts every live-tail channel path.
const TailPathPrefix = "tail"

// maxChannelLength is Grafana Live's limit on a whole channel id
// ("ds/<uid>/<path>"), enforced by the SDK's live.ParseChannel.
const maxChannelLength = 160

// maxTailEncoded bounds the encoded filters of a tail path. It is looser
// than Grafana's channel limit so that a path is never refused here before
// Grafana says why, yet bounds the JSON decoded from a path.
const maxTailEncoded = 4 * maxChannelLength

// TailPath is the channel path of a live tail with these filters:
// "tail", or "tail/" + the filters' JSON in unpadded base64url, the form
// the frontend builds too. Grafana Live allows only [A-Za-z0-9_-/=.] in a
// path, which base64url fits.
func TailPath(f Filters) (string, error) {
	if _, err := f.Compile(); err != nil {
		return "", err
	}
	if f.isEmpty() {
		return TailPathPrefix, nil
	}
	b, err := json.Marshal(f)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding.EncodeToString(b)
	if len(enc) > maxTailEncoded {
		// ParseTailPath refuses such a path, so writing it would hand out
		// a channel nobody can subscribe to.
		return "", badf("filters: too large for a live-tail channel (%d characters encoded, at most %d); use fewer or shorter values", len(enc), maxTailEncoded)
	}
	return TailPathPrefix + "/" + enc, nil
}

func (f Filters) isEmpty() bool {
	return len(f.Actions) == 0 && len(f.Users) == 0 && len(f.Apps) == 0 && len(f.ClientIPs) == 0 &&
		len(f.Countries) == 0 && f.Search == "" && f.EventID == ""
}

// ParseTailPath reads a live-tail channel path back into validated
// filters. Padding is tolerated, since some encoders add it.
func ParseTailPath(path string) (Filters, error) {
	if path == TailPathPrefix {
		return Filters{}, nil
	}
	enc, ok := strings.CutPrefix(path, TailPathPrefix+"/")
	if !ok {
		return Filters{}, badf("stream path %q: want %q or %q", clip(path), TailPathPrefix, TailPathPrefix+"/<base64url of the filters JSON>")
	}
	if len(enc) > maxTailEncoded {
		return Filters{}, badf("stream path: longer than %d characters", maxTailEncoded)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(enc, "="))
	if err != nil {
		return Filters{}, badf("stream path: filters are not unpadded base64url: %v", err)
	}
	var f Filters
	if err := decodeFilters(raw, &f); err != nil {
		return Filters{}, err
	}
	if _, err := f.Compile(); err != nil {
		return Filters{}, err
	}
	return f, nil
}
