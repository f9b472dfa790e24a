/*
 * Extends the create-plugin webpack config (.config/ stays as scaffolded, see
 * https://grafana.com/developers/plugin-tools/how-to-guides/extend-configurations):
 *
 * - cleaning dist/ keeps every backend executable (gpx_*), whatever its
 *   platform suffix, and the Go build manifest: the Go build writes them into
 *   dist/ too, before or after this build;
 * - the repository's README.md, CHANGELOG.md and LICENSE are copied when they
 *   exist instead of failing the build when one is missing.
 */
import CopyWebpackPlugin from 'copy-webpack-plugin';
import type { Configuration } from 'webpack';

import { copyFilePatterns } from './.config/bundler/copyFiles.ts';
import grafanaConfig, { type Env } from './.config/webpack/webpack.config.ts';

/** Files in dist/ that webpack must never delete. */
export const KEEP_IN_DIST = /(^|[\\/])(gpx_[^\\/]*|go_plugin_build_manifest)$/;

const config = async (env: Env): Promise<Configuration> => {
  const base = await grafanaConfig(env);

  const plugins = (base.plugins ?? []).map((plugin) =>
    plugin instanceof CopyWebpackPlugin
      ? new CopyWebpackPlugin({
          patterns: copyFilePatterns.map((pattern) =>
            pattern.from.startsWith('../') ? { ...pattern, noErrorOnMissing: true } : pattern
          ),
        })
      : plugin
  );

  const clean = base.output?.clean;
  const scaffoldKeep = typeof clean === 'object' && clean.keep instanceof RegExp ? clean.keep : undefined;

  return {
    ...base,
    output: {
      ...base.output,
      clean: { keep: (file: string) => KEEP_IN_DIST.test(file) || Boolean(scaffoldKeep?.test(file)) },
    },
    plugins,
  };
};

export default config;
