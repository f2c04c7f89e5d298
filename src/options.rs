//! The library's front door: [`compress`] and [`decompress`] over any [`Read`] and [`Write`], configured by an
//! [`Options`] builder (level, model, threads, memory limit). The command line is a thin layer over the same calls.
//!
//! ```
//! use nacz::{compress, decompress, Options};
//! use nacz::lm::FakeLm;
//!
//! let text = b"The quick brown fox jumps over the lazy dog. ".repeat(20);
//! // A real run takes the manifest model (`Options::new().level(6)`); the tests' stand-in model needs no weights.
//! let options = || Options::new().level(6).language_model(Box::new(FakeLm::new()));
//! let mut packed = Vec::new();
//! let totals = compress(&text[..], &mut packed, options())?;
//! assert_eq!(totals.input_bytes, text.len() as u64);
//! assert!(packed.len() < text.len());
//!
//! let mut unpacked = Vec::new();
//! decompress(&packed[..], &mut unpacked, options())?;
//! assert_eq!(unpacked, text);
//! # Ok::<(), nacz::Error>(())
//! ```

use std::io::{Read, Write};

use crate::lm::{Device, LanguageModel};

use crate::codec::{CompressSettings, Engine, NoProgress};
use crate::levels::{Level, DEFAULT_LEVEL};
use crate::model::{self, LoadOptions};
use crate::stream::{self, Totals, FRAME_BYTES};
use crate::Error;

/// How to compress or decompress: a level (or explicit settings), which model, how many threads, how much
/// memory. Build it with the methods below; everything has a default.
pub struct Options {
    level: u8,
    settings: Option<CompressSettings>,
    model: Option<String>,
    language_model: Option<Box<dyn LanguageModel>>,
    threads: Option<usize>,
    workers: usize,
    device: Device,
    memory_limit: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

impl Options {
    /// The default level, the level's model, threads following the load, the default memory limit.
    pub fn new() -> Self {
        Self {
            level: DEFAULT_LEVEL,
            settings: None,
            model: None,
            language_model: None,
            threads: None,
            workers: 1,
            device: Device::Auto,
            memory_limit: None,
        }
    }

    /// Compression level 1 (fastest) to 9 (smallest); see [`crate::levels`]. Decompression ignores it.
    pub fn level(mut self, level: u8) -> Self {
        self.level = level;
        self
    }

    /// Explicit settings instead of a level's (every field lands in the file's header).
    pub fn settings(mut self, settings: CompressSettings) -> Self {
        self.settings = Some(settings);
        self
    }

    /// The model: a manifest name (`smollm2-135m`, `gemma3-270m`) or a GGUF path. By default the level's model
    /// when compressing and the model a file names when decoding.
    pub fn model(mut self, name_or_path: impl Into<String>) -> Self {
        self.model = Some(name_or_path.into());
        self
    }

    /// An already loaded model (any [`LanguageModel`], e.g. the tests' `FakeLm`), used instead of loading one.
    pub fn language_model(mut self, lm: Box<dyn LanguageModel>) -> Self {
        self.language_model = Some(lm);
        self
    }

    /// Inference threads (by default as many as other processes leave idle). Output never depends on it.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Worker threads decoding the lane groups in parallel (1 by default). Output never depends on it.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// Where the model runs ([`Device::Auto`] by default: the CPU in this build; a GPU is refused with an error).
    pub fn device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// Most memory one frame may need ([`crate::codec::DEFAULT_MEMORY_LIMIT`] by default); a file that needs more
    /// is refused before anything is allocated for it.
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// The level, checked.
    fn checked_level(&self) -> Result<Level, Error> {
        Level::get(self.level).ok_or_else(|| Error::Usage(format!("level {} is not one of 1 to 9", self.level)))
    }

    /// An engine for these options; `default_model` is the level's when compressing.
    fn engine(&mut self, default_model: Option<&str>) -> Engine {
        let mut engine = match self.language_model.take() {
            Some(lm) => Engine::with_model(lm),
            None => Engine::new(model::loader(LoadOptions {
                model: self.model.clone(),
                default_model: default_model.map(str::to_string),
                threads: self.threads,
                workers: self.workers,
                device: self.device.clone(),
                verbose: false,
            })),
        };
        if let Some(limit) = self.memory_limit {
            engine.set_memory_limit(limit);
        }
        engine
    }
}

/// Compresses everything `input` yields into a complete nacz stream on `output` (several frames for large input;
/// the stream can be concatenated with others). Returns the byte and token counts.
pub fn compress(mut input: impl Read, mut output: impl Write, mut options: Options) -> Result<Totals, Error> {
    let level = options.checked_level()?;
    options.device.resolve()?;
    let settings = options.settings.unwrap_or_else(|| level.settings());
    let mut engine = options.engine(Some(level.model));
    stream::compress(
        &mut engine,
        &settings,
        FRAME_BYTES,
        &mut input,
        &mut output,
        &mut NoProgress,
    )
}

/// Decompresses a nacz stream (one or more frames, e.g. concatenated files) to `output`, verifying every frame's
/// checksums. Returns the number of bytes written.
pub fn decompress(mut input: impl Read, mut output: impl Write, mut options: Options) -> Result<u64, Error> {
    options.device.resolve()?;
    let mut engine = options.engine(None);
    stream::decompress(&mut engine, &mut input, Some(&mut output), &mut NoProgress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::FakeLm;

    #[test]
    fn an_unknown_level_is_a_usage_error() {
        let result = compress(&b"x"[..], Vec::new(), Options::new().level(10));
        assert!(matches!(result, Err(Error::Usage(_))), "{result:?}");
    }

    #[test]
    fn every_level_round_trips_with_the_stand_in_model() {
        let text = b"levels change settings, never the bytes that come back\n".repeat(30);
        for level in 1..=9 {
            let options = || Options::new().level(level).language_model(Box::new(FakeLm::new()));
            let mut packed = Vec::new();
            compress(&text[..], &mut packed, options()).unwrap();
            let mut unpacked = Vec::new();
            decompress(&packed[..], &mut unpacked, options()).unwrap();
            assert_eq!(unpacked, text, "level {level}");
        }
    }
}
