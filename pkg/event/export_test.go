package event

// Hooks for the differential tests in package event_test, which needs
// pkg/demo and so cannot live in this package.
var (
	DecodeReference = decodeReference
	DecodeFast      = decodeFast
)
