//! The DualTrack part of the configuration: the seed's migration.yaml keys (`migration:` and
//! `consistency:` sections), `RUSTFS_DUAL_TRACK_RATIO` and `RUSTFS_METADATA_ENGINE`. They
//! give the *start-up* migration state of a deployment that has none persisted yet; once
//! the state is stored in the KV it wins across restarts (a differing start-up value is
//! logged as a warning). This module only parses and resolves; it must never open a store.

use std::time::Duration;

use metadata::dualtrack::migrator::{MigratorConfig, Priority};
use metadata::dualtrack::{Level, Phase};
use serde::Deserialize;

use crate::config::Engine;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MigrationFile {
    /// Run DualTrack (a legacy deployment moving to the KV).
    pub enable_dual_track: Option<bool>,
    /// Start-up phase (legacy, canary, fullout, kv_primary, complete); by default derived
    /// from the canary ratio.
    pub phase: Option<String>,
    #[serde(default)]
    pub canary: CanaryFile,
    #[serde(default)]
    pub migration: MigratorFile,
    #[serde(default)]
    pub consistency_check: CheckFile,
    /// Bound of the eventual level's shadow queue (keys).
    pub queue_capacity: Option<usize>,
    /// In kv_primary, answer a KV miss from xl.meta.
    pub fallback_to_fs: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CanaryFile {
    pub traffic_ratio: Option<f64>,
    /// Accepted for the seed's file; automatic expansion is not implemented (raise the
    /// ratio with `rustfs-admin migration phase canary --ratio R`).
    pub duration_seconds: Option<u64>,
    pub auto_expand_threshold: Option<AutoExpandFile>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AutoExpandFile {
    pub error_rate: Option<f64>,
    pub latency_p99_ms: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MigratorFile {
    pub enabled: Option<bool>,
    pub concurrency: Option<usize>,
    pub objects_per_day: Option<u64>,
    pub priority_strategy: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CheckFile {
    pub enabled: Option<bool>,
    pub sample_rate: Option<f64>,
    pub interval_seconds: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyFile {
    pub level: Option<String>,
    pub window_seconds: Option<u64>,
}

/// `metadata_engine` / `RUSTFS_METADATA_ENGINE`: the engine, and the start-up phase the
/// migration guide's values name (`kv_primary`: reads from the KV, xl.meta kept as a shadow;
/// `complete`: the KV alone). Both are a legacy deployment running DualTrack; the phase
/// they name is only the start-up value (a stored migration state wins, see `resolve`).
pub fn parse_engine(v: Option<&str>) -> Result<(Engine, Option<Phase>), String> {
    match v.unwrap_or("kv") {
        "kv" => Ok((Engine::Kv, None)),
        "legacy" => Ok((Engine::Legacy, None)),
        "kv_primary" => Ok((Engine::Legacy, Some(Phase::KvPrimary))),
        "complete" => Ok((Engine::Legacy, Some(Phase::Complete))),
        other => Err(format!("unknown metadata engine {other:?}: use kv, legacy, kv_primary or complete")),
    }
}

/// The resolved DualTrack settings.
#[derive(Debug, Clone)]
pub struct MigrationConfig {
    /// Whether this deployment starts with DualTrack (a persisted state also turns it on).
    pub dual: bool,
    pub phase: Phase,
    pub ratio: f64,
    pub level: Level,
    pub window: Duration,
    pub queue_capacity: usize,
    pub fallback_to_fs: bool,
    pub migrator_enabled: bool,
    pub migrator: MigratorConfig,
    pub check_enabled: bool,
    pub sample_rate: f64,
    pub check_interval: Duration,
    /// Start-up notes worth a warning (ignored seed keys).
    pub notes: Vec<String>,
}

impl MigrationConfig {
    /// `engine_phase` is the phase `RUSTFS_METADATA_ENGINE` names (see `parse_engine`); it
    /// wins over `migration.phase` and the ratio.
    pub fn resolve(
        engine: Engine,
        engine_phase: Option<Phase>,
        env_ratio: Option<f64>,
        m: MigrationFile,
        c: ConsistencyFile,
    ) -> Result<Self, String> {
        let ratio = env_ratio.or(m.canary.traffic_ratio).unwrap_or(0.0);
        if !(0.0..=1.0).contains(&ratio) {
            return Err(format!("dual-track ratio {ratio} must be within [0, 1]"));
        }
        let phase = match (engine_phase, m.phase.as_deref()) {
            (Some(p), _) => p,
            (None, Some(p)) => p.parse::<Phase>()?,
            (None, None) if ratio >= 1.0 => Phase::Fullout,
            (None, None) if ratio > 0.0 => Phase::Canary,
            (None, None) => Phase::Legacy,
        };
        let dual = engine == Engine::Legacy || m.enable_dual_track == Some(true) || env_ratio.is_some();
        let level = c.level.as_deref().unwrap_or("eventual").parse::<Level>()?;
        let priority = m.migration.priority_strategy.as_deref().unwrap_or("access_frequency").parse::<Priority>()?;
        let sample_rate = m.consistency_check.sample_rate.unwrap_or(0.01);
        if !(sample_rate > 0.0 && sample_rate <= 1.0) {
            return Err(format!("consistency_check.sample_rate {sample_rate} must be in (0, 1]"));
        }
        let mut notes = Vec::new();
        if m.canary.duration_seconds.is_some() || m.canary.auto_expand_threshold.is_some() {
            notes.push(
                "migration.canary.duration_seconds / auto_expand_threshold are not acted on by the server: the canary ratio changes with `rustfs-admin migration phase` (scripts/gradual_migration.sh checks the thresholds as its gates)".to_string(),
            );
        }
        Ok(Self {
            dual,
            phase,
            ratio,
            level,
            window: Duration::from_secs(c.window_seconds.unwrap_or(60).max(1)),
            queue_capacity: m.queue_capacity.unwrap_or(10_000).max(1),
            fallback_to_fs: m.fallback_to_fs.unwrap_or(true),
            migrator_enabled: m.migration.enabled.unwrap_or(true),
            migrator: MigratorConfig {
                concurrency: m.migration.concurrency.unwrap_or(8).max(1),
                objects_per_day: m.migration.objects_per_day.unwrap_or(0),
                priority,
            },
            check_enabled: m.consistency_check.enabled.unwrap_or(true),
            sample_rate,
            check_interval: Duration::from_secs(m.consistency_check.interval_seconds.unwrap_or(3600).max(1)),
            notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_migration_yaml_resolves() {
        let yaml = r#"
migration:
  enable_dual_track: true
  canary:
    traffic_ratio: 0.05
    duration_seconds: 172800
    auto_expand_threshold:
      error_rate: 0.0001
      latency_p99_ms: 100
  migration:
    enabled: true
    concurrency: 8
    objects_per_day: 100000
    priority_strategy: "access_frequency"
  consistency_check:
    enabled: true
    sample_rate: 0.01
    interval_seconds: 3600
consistency:
  level: "eventual"
  window_seconds: 60
"#;
        let f: crate::config::FileConfig = serde_yaml::from_str(yaml).unwrap();
        let c = MigrationConfig::resolve(Engine::Kv, None, None, f.migration, f.consistency).unwrap();
        assert!(c.dual);
        assert_eq!((c.phase, c.ratio, c.level), (Phase::Canary, 0.05, Level::Eventual));
        assert_eq!(c.migrator.objects_per_day, 100_000);
        assert_eq!(c.window, Duration::from_secs(60));
        assert_eq!(c.notes.len(), 1);
        // The environment's ratio wins over the file's.
        let f: crate::config::FileConfig = serde_yaml::from_str(yaml).unwrap();
        let c = MigrationConfig::resolve(Engine::Legacy, None, Some(1.0), f.migration, f.consistency).unwrap();
        assert_eq!(c.phase, Phase::Fullout);
        assert!(
            MigrationConfig::resolve(Engine::Legacy, None, Some(1.5), Default::default(), Default::default()).is_err()
        );
        let plain = MigrationConfig::resolve(Engine::Kv, None, None, Default::default(), Default::default()).unwrap();
        assert!(!plain.dual);
    }

    #[test]
    fn the_guides_engine_values_are_a_legacy_deployment_in_that_phase() {
        assert_eq!(parse_engine(None).unwrap(), (Engine::Kv, None));
        assert_eq!(parse_engine(Some("legacy")).unwrap(), (Engine::Legacy, None));
        let (engine, phase) = parse_engine(Some("kv_primary")).unwrap();
        assert_eq!((engine, phase), (Engine::Legacy, Some(Phase::KvPrimary)));
        // The ratio the script leaves in the environment (1.0) does not change the phase.
        let c = MigrationConfig::resolve(engine, phase, Some(1.0), Default::default(), Default::default()).unwrap();
        assert!(c.dual);
        assert_eq!((c.phase, c.ratio), (Phase::KvPrimary, 1.0));
        assert_eq!(parse_engine(Some("complete")).unwrap(), (Engine::Legacy, Some(Phase::Complete)));
        assert!(parse_engine(Some("kv-primary")).unwrap_err().contains("kv_primary"));
    }
}
