// Command gpx_auditlog is the Grafana backend plugin. Grafana starts it and
// talks to it over the plugin gRPC protocol.
package main

import (
	"os"

	"github.com/grafana/grafana-plugin-sdk-go/backend/datasource"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"

	"github.com/auditlog/auditlog/pkg/plugin"
)

// version is set by the build (-ldflags "-X main.version=…").
var version string

func main() {
	plugin.SetVersion(version)
	if err := datasource.Manage(plugin.ID, plugin.NewDatasource, datasource.ManageOpts{}); err != nil {
		log.DefaultLogger.Error(err.Error())
		os.Exit(1)
	}
}
