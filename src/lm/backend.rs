//! The backend class a modeled frame's logits come from, as the header records it (since format version 7).
//!
//! Logits differ between backends: between CPU instruction sets (an AVX2 and an AVX-512 build of ggml disagree)
//! and between CPU and CUDA, whose kernel choice depends on the GPU. So a file names the class that made it and
//! is decoded only by the same one; the 16-bit engine id beside it pins the exact llama.cpp build. A CUDA class
//! is defined now, so any nacz can name what a GPU-made file needs, though this build has no GPU backend.

use std::fmt;

/// CPU features llama.cpp reports as compiled in (`llama_print_system_info`), one bit each, in this order.
pub const CPU_FEATURES: [&str; 25] = [
    // What an x86-64 build of nacz has today first, so its set fits in a two-byte varint.
    "SSE3",
    "SSSE3",
    "AVX",
    "AVX2",
    "F16C",
    "FMA",
    "BMI2",
    "LLAMAFILE",
    "OPENMP",
    "AVX_VNNI",
    "AVX512",
    "AVX512_VBMI",
    "AVX512_VNNI",
    "AVX512_BF16",
    "AMX_INT8",
    "NEON",
    "ARM_FMA",
    "FP16_VA",
    "MATMUL_INT8",
    "SVE",
    "DOTPROD",
    "SME",
    "RISCV_V",
    "VSX",
    "WASM_SIMD",
];

/// Longest GPU name a header holds.
pub const MAX_GPU_NAME: usize = 64;

/// What computes the logits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// ggml's CPU kernels, built for these features (bits over [`CPU_FEATURES`]).
    Cpu { features: u32 },
    /// llama.cpp's CUDA kernels on one GPU model.
    Cuda {
        /// As the driver names it, e.g. "NVIDIA H200".
        gpu: String,
        /// Major × 10 + minor, e.g. 90 for sm_90.
        compute_capability: u32,
        /// Streaming multiprocessors (kernel choice depends on them).
        sms: u32,
        /// CUDA runtime version as CUDA encodes it (1000 × major + 10 × minor, e.g. 13000).
        cuda_version: u32,
        /// cuBLAS version (10000 × major + 100 × minor + patch).
        cublas_version: u32,
    },
}

/// The header's class byte of each backend.
pub const CLASS_CPU: u8 = 0;
pub const CLASS_CUDA: u8 = 1;

impl Backend {
    /// The CPU backend with the features named in a llama.cpp system-info string (`SSE3 = 1 | AVX2 = 1 | …`).
    pub fn cpu_from_system_info(info: &str) -> Self {
        let features = info
            .split(['|', ','])
            .filter_map(|f| f.trim().strip_suffix("= 1"))
            .map(|name| name.rsplit([':', '[']).next().unwrap_or(name).trim())
            .filter_map(|name| CPU_FEATURES.iter().position(|&known| known == name))
            .fold(0u32, |bits, i| bits | 1 << i);
        Self::Cpu { features }
    }

    /// The header's class byte.
    pub fn class(&self) -> u8 {
        match self {
            Self::Cpu { .. } => CLASS_CPU,
            Self::Cuda { .. } => CLASS_CUDA,
        }
    }

    /// What a user needs to decode a file this backend made.
    pub fn decoder_hint(&self) -> String {
        match self {
            Self::Cpu { .. } => format!("the CPU build of nacz (scripts/setup.sh) on a CPU with {self}"),
            Self::Cuda { .. } => format!("nacz's CUDA build with --device cuda on {self}"),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu { features } => {
                let names: Vec<&str> = CPU_FEATURES
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| features & (1 << i) != 0)
                    .map(|(_, name)| *name)
                    .collect();
                if names.is_empty() {
                    write!(f, "CPU (no instruction-set extensions)")
                } else {
                    write!(f, "CPU ({})", names.join(" "))
                }
            }
            Self::Cuda {
                gpu,
                compute_capability,
                sms,
                cuda_version,
                cublas_version,
            } => write!(
                f,
                "CUDA ({gpu}, sm_{compute_capability}, {sms} SMs, CUDA {}.{}, cuBLAS {}.{}.{})",
                cuda_version / 1000,
                cuda_version % 1000 / 10,
                cublas_version / 10000,
                cublas_version % 10000 / 100,
                cublas_version % 100
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_features_come_from_system_info() {
        let info = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | AVX512 = 0 | \
                    LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | NEW_THING = 1 |";
        let backend = Backend::cpu_from_system_info(info);
        assert_eq!(
            backend.to_string(),
            "CPU (SSE3 SSSE3 AVX AVX2 F16C FMA BMI2 LLAMAFILE OPENMP)"
        );
        // The engine string's comma-separated form gives the same.
        let engine = "llama-cpp-sys-2=0.1.161 cpu[CPU : SSE3 = 1,SSSE3 = 1,AVX = 1,AVX2 = 1,F16C = 1,FMA = 1,\
                      BMI2 = 1,LLAMAFILE = 1,OPENMP = 1]";
        assert_eq!(Backend::cpu_from_system_info(engine.trim_end_matches(']')), backend);
    }

    #[test]
    fn cuda_names_everything_that_decides_its_numerics() {
        let h200 = Backend::Cuda {
            gpu: "NVIDIA H200".into(),
            compute_capability: 90,
            sms: 132,
            cuda_version: 13000,
            cublas_version: 130_001,
        };
        assert_eq!(
            h200.to_string(),
            "CUDA (NVIDIA H200, sm_90, 132 SMs, CUDA 13.0, cuBLAS 13.0.1)"
        );
        assert!(h200.decoder_hint().contains("--device cuda on CUDA (NVIDIA H200"));
        assert_ne!(h200.class(), Backend::Cpu { features: 0 }.class());
    }
}
