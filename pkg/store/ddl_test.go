package store_test

import (
	"testing"

	"github.com/auditlog/auditlog/pkg/store"
	"github.com/auditlog/auditlog/pkg/store/storetest"
)

// TestMigrationsParse: every migration statement, for one server and for
// a cluster, is SQL the engine's parser takes. A cluster runs only where
// CLICKHOUSE_CLUSTER is set, so without this its DDL would meet a parser
// first in production.
func TestMigrationsParse(t *testing.T) {
	eng := storetest.EmbeddedEngine(t)
	for _, cluster := range []string{"", "events_cluster"} {
		for _, stmt := range store.MigrationStatements("auditlog", cluster) {
			rows, err := eng.Query(ctx, "SELECT formatQuery("+store.Quote(stmt)+")")
			if err == nil {
				for rows.Next() {
				}
				err = rows.Err()
				rows.Close()
			}
			if err != nil {
				t.Errorf("cluster %q: %s\n%v", cluster, stmt, err)
			}
		}
	}
}
