package authentik

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// DefaultCursorFile is the cursor's file name.
const DefaultCursorFile = ".auditlog-import-cursor.json"

// Cursor is how far an import got: the newest event stored so far. It is
// saved after every page, so a re-run resumes there; overlap is harmless
// because ids are deduplicated.
type Cursor struct {
	// URL is the authentik instance the cursor belongs to.
	URL     string    `json:"url"`
	Created time.Time `json:"created"`
	PK      string    `json:"pk"`
	// Imported counts the events sent so far, over all runs.
	Imported int64     `json:"imported"`
	Updated  time.Time `json:"updated"`
}

// LoadCursor reads a cursor file. A missing file is no error: found is
// false and the import starts from the beginning.
func LoadCursor(path string) (c Cursor, found bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Cursor{}, false, nil
	}
	if err != nil {
		return Cursor{}, false, fmt.Errorf("authentik: cursor: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return Cursor{}, false, fmt.Errorf("authentik: cursor %s is damaged (%v); delete it to import from the start", path, err)
	}
	return c, true, nil
}

// Save writes the cursor atomically: a crash leaves the old or the new
// cursor, never half of one.
func (c Cursor) Save(path string) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".cursor-*.tmp")
	if err != nil {
		return fmt.Errorf("authentik: save cursor: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(append(b, '\n'))
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("authentik: save cursor %s: %w", path, werr)
	}
	return nil
}
