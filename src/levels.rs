//! Compression levels `-1` … `-9`: named presets of model, context window, lanes, chunk length and confidence
//! skip, chosen from a measured speed/size curve (docs/levels.md) and monotone in speed.
//!
//! A level is only a name for settings: every parameter it sets lands in the frame header like any tuning flag,
//! so a file decodes the same whichever level made it, and `nacz info` recognises a level by comparing a frame's
//! parameters with the presets ([`Level::of_frame`]).

use crate::lm::SessionConfig;
use nacz_predictors::PredictorConfig;

use crate::codec::{CompressSettings, DEFAULT_PREDICTORS};
use crate::container::ModelParams;
use crate::model;

/// The level `nacz compress` uses when none is given: today's long-standing defaults.
pub const DEFAULT_LEVEL: u8 = 6;
/// `--fast`.
pub const FASTEST_LEVEL: u8 = 1;
/// `--best`.
pub const BEST_LEVEL: u8 = 9;

/// One preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    pub number: u8,
    /// The manifest name of the model (models/manifest.tsv).
    pub model: &'static str,
    /// Tokens of context the model sees.
    pub window: u32,
    /// Lanes coded in lockstep.
    pub lanes: u32,
    /// Fewest tokens a lane's chunk gets.
    pub min_chunk_tokens: u32,
    /// Confidence skip: the LM is skipped where the match model's miss rate is at most this, in 2^-16.
    pub skip_miss_rate: u16,
}

/// Tokens at the start of each lane that stay in its window (attention sinks), at every level.
pub const SINK_TOKENS: u32 = 4;

const SMOLLM2: &str = model::DEFAULT_MODEL;
const GEMMA3: &str = "gemma3-270m";
const SKIP: u16 = DEFAULT_PREDICTORS.skip_miss_rate;

/// The presets, fastest first, chosen from the curve in docs/levels.md. Short windows are cheap, short chunks
/// pay for cold starts; Gemma 3 270M is both smaller and about as fast as SmolLM2 at the same window (its
/// attention is local in most layers), so levels 7–9 use it with fewer lanes and longer windows.
pub const LEVELS: [Level; 9] = [
    level(1, SMOLLM2, 512, 8, 1024, SKIP),
    level(2, SMOLLM2, 1024, 8, 1024, SKIP),
    level(3, SMOLLM2, 1536, 8, 2048, SKIP),
    level(4, SMOLLM2, 2048, 8, 2048, SKIP),
    level(5, SMOLLM2, 3072, 8, 4096, SKIP),
    level(6, SMOLLM2, 4096, 8, 8192, SKIP),
    level(7, GEMMA3, 4096, 4, 16384, SKIP),
    level(8, GEMMA3, 8192, 4, 16384, SKIP),
    level(9, GEMMA3, 8192, 2, 32768, SKIP),
];

const fn level(number: u8, model: &'static str, window: u32, lanes: u32, min_chunk_tokens: u32, skip: u16) -> Level {
    Level {
        number,
        model,
        window,
        lanes,
        min_chunk_tokens,
        skip_miss_rate: skip,
    }
}

impl Level {
    /// Level `number` (1..=9).
    pub fn get(number: u8) -> Option<Level> {
        LEVELS.iter().copied().find(|l| l.number == number)
    }

    /// The default level.
    pub fn default_level() -> Level {
        LEVELS[usize::from(DEFAULT_LEVEL) - 1]
    }

    /// Tokens dropped from a full window at once: 1/16 of it.
    pub fn slide(&self) -> u32 {
        self.window / 16
    }

    /// The session this level runs.
    pub fn session(&self) -> SessionConfig {
        SessionConfig {
            lanes: self.lanes,
            lane_group: self.lanes,
            window: self.window,
            slide: self.slide(),
            sink: SINK_TOKENS,
            flash_attention: false,
            kv_q8: false,
            max_feed: 1,
        }
    }

    /// The online predictors this level mixes with the LM.
    pub fn predictors(&self) -> PredictorConfig {
        PredictorConfig {
            skip_miss_rate: self.skip_miss_rate,
            ..DEFAULT_PREDICTORS
        }
    }

    /// Everything `nacz compress` needs besides the model.
    pub fn settings(&self) -> CompressSettings {
        CompressSettings::new(self.session(), self.predictors(), self.min_chunk_tokens)
    }

    /// Whether a modeled frame was made with this level's settings (table sizes shrink with the input, so only
    /// what the level sets is compared; the model is compared by [`Level::of_frame`]).
    pub fn matches_settings(&self, params: &ModelParams) -> bool {
        let session = self.session();
        let p = &params.predictors;
        let wanted = self.predictors();
        params.session.lanes == session.lanes
            && params.session.lane_group == session.lane_group
            && params.session.window == session.window
            && params.session.slide == session.slide
            && params.session.sink == session.sink
            && params.session.flash_attention == session.flash_attention
            && params.session.kv_q8 == session.kv_q8
            && params.min_chunk_tokens == self.min_chunk_tokens
            && p.ngram_order == wanted.ngram_order
            && p.match_min_len == wanted.match_min_len
            && p.bias_rate == wanted.bias_rate
            && p.mixer == wanted.mixer
            && p.mixer_rate == wanted.mixer_rate
            && p.skip_miss_rate == wanted.skip_miss_rate
            && p.share_lanes == wanted.share_lanes
            && p.skip_gap == wanted.skip_gap
            && p.apm_rate == wanted.apm_rate
    }

    /// Whether this level's model made the frame.
    pub fn matches_model(&self, params: &ModelParams) -> bool {
        model::entry_for_model_id(&params.model_id).is_some_and(|e| e.name == self.model)
    }

    /// The level whose settings made a modeled frame, preferring the one whose model also made it; with whether
    /// the model is that level's.
    pub fn of_frame(params: &ModelParams) -> Option<(Level, bool)> {
        let candidates = || LEVELS.iter().copied().filter(|l| l.matches_settings(params));
        candidates()
            .find(|l| l.matches_model(params))
            .map(|l| (l, true))
            .or_else(|| candidates().next().map(|l| (l, false)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_numbered_in_order_and_valid() {
        for (i, level) in LEVELS.iter().enumerate() {
            assert_eq!(usize::from(level.number), i + 1);
            let settings = level.settings();
            settings.session.validate().unwrap();
            settings.predictors.validate(level.lanes).unwrap();
            assert_eq!(level.window % crate::lm::CONTEXT_PAD, 0);
            assert!(
                model::manifest().iter().any(|e| e.name == level.model),
                "{}",
                level.model
            );
        }
        assert_eq!(Level::get(0), None);
        assert_eq!(Level::get(10), None);
    }

    /// Level 6 keeps the settings nacz used before levels existed, so default output did not change.
    #[test]
    fn default_level_is_the_former_default() {
        let level = Level::default_level();
        assert_eq!(level.number, DEFAULT_LEVEL);
        assert_eq!(level.model, model::DEFAULT_MODEL);
        let settings = level.settings();
        assert_eq!((settings.session.lanes, settings.session.window), (8, 4096));
        assert_eq!((settings.session.slide, settings.session.sink), (256, 4));
        assert_eq!(settings.min_chunk_tokens, 8192);
        assert_eq!(settings.predictors, DEFAULT_PREDICTORS);
    }

    /// The shortest chunk only binds on short inputs, so neighbouring levels must differ in model, window or
    /// lanes: otherwise they would write identical files for anything longer than lanes × shortest chunk.
    #[test]
    fn levels_differ_on_long_inputs_and_get_slower() {
        for pair in LEVELS.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert_ne!(
                (a.model, a.window, a.lanes),
                (b.model, b.window, b.lanes),
                "levels {} and {}",
                a.number,
                b.number
            );
            if a.model == b.model {
                assert!(
                    b.window >= a.window && b.lanes <= a.lanes,
                    "levels {} and {}",
                    a.number,
                    b.number
                );
            }
        }
    }

    #[test]
    fn best_level_uses_the_strongest_model() {
        assert_eq!(Level::get(BEST_LEVEL).unwrap().model, GEMMA3);
    }
}
