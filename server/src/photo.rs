//! Photos sent by the public (complaints, whistleblower reports), made safe
//! to keep.
//!
//! A phone photo carries EXIF: the GPS position of the sender, the camera's
//! serial number, the time to the second, sometimes a thumbnail of the
//! uncropped picture. For an anonymous reporter that is enough to be found.
//! Deleting known tags is a blacklist that misses vendor blocks (MakerNote,
//! XMP, IPTC, ICC profiles with device names, PNG text chunks), so the photo
//! is instead decoded to pixels and encoded anew as a baseline JPEG: only
//! pixels survive, and every byte of the result was written by this module.
//! Decoding is bounded (bytes, dimensions and memory), so a small file that
//! claims a huge image (a decompression bomb) is refused before it is
//! allocated.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};

/// Largest photo accepted: 5 MiB, a phone photo at good quality, small
/// enough to send on a weak signal (the same bound as inspection
/// attachments).
pub const MAX_PHOTO_BYTES: usize = 5 * 1024 * 1024;

/// Largest side in pixels: a 48-megapixel phone camera's long side is 8000.
pub const MAX_SIDE: u32 = 8192;

/// Memory the decoder may allocate: an 8192 × 8192 RGBA image is 256 MiB;
/// photos from phones stay far below, bombs above.
const MAX_DECODE_ALLOC: u64 = 300 * 1024 * 1024;

/// JPEG quality of the re-encoded photo: evidence stays legible, a 12 MP
/// photo stays around 2–3 MiB.
const JPEG_QUALITY: u8 = 85;

/// Why a photo was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PhotoError {
    #[error("照片过大：最多 {limit} 字节 (photo too large)")]
    TooLarge { limit: usize },
    #[error("不是图片：只接受 JPEG、PNG 或 WebP (not a JPEG, PNG or WebP image)")]
    NotAnImage,
    #[error("图片尺寸过大：边长最多 {MAX_SIDE} 像素 (image dimensions too large)")]
    TooManyPixels,
    #[error("图片已损坏，无法读取 (corrupt image): {0}")]
    Corrupt(String),
}

impl PhotoError {
    /// The stable snake_case code of the HTTP error shape.
    pub fn code(&self) -> &'static str {
        match self {
            PhotoError::TooLarge { .. } => "photo_too_large",
            PhotoError::NotAnImage => "not_an_image",
            PhotoError::TooManyPixels => "photo_dimensions_too_large",
            PhotoError::Corrupt(_) => "photo_corrupt",
        }
    }
}

/// A photo with nothing but its pixels, ready to store.
#[derive(Debug, Clone)]
pub struct CleanPhoto {
    /// A baseline JPEG written here (JFIF header, no metadata segments).
    pub bytes: Vec<u8>,
    /// Always `image/jpeg`.
    pub media_type: &'static str,
    /// SHA-256 of `bytes`, lower-case hex: the name it is stored under.
    pub sha256: String,
    pub width: u32,
    pub height: u32,
}

/// Decodes `bytes` (JPEG, PNG or WebP), turns it upright as its EXIF
/// orientation says (the tag itself is then dropped, so the picture must
/// carry the rotation), and encodes the pixels anew as JPEG.
pub fn clean(bytes: &[u8]) -> Result<CleanPhoto, PhotoError> {
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(PhotoError::TooLarge {
            limit: MAX_PHOTO_BYTES,
        });
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| PhotoError::Corrupt(e.to_string()))?;
    match reader.format() {
        Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP) => {}
        _ => return Err(PhotoError::NotAnImage),
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut picture = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    picture.apply_orientation(orientation);
    // JPEG has no alpha: transparent parts of a PNG become black, which is
    // how most viewers show them anyway.
    let rgb = picture.to_rgb8();
    let (width, height) = rgb.dimensions();
    let mut out = Vec::with_capacity(bytes.len().min(MAX_PHOTO_BYTES));
    JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .encode_image(&rgb)
        .map_err(|e| PhotoError::Corrupt(e.to_string()))?;
    let sha256 = format!("{:x}", Sha256::digest(&out));
    Ok(CleanPhoto {
        bytes: out,
        media_type: "image/jpeg",
        sha256,
        width,
        height,
    })
}

fn decode_error(e: image::ImageError) -> PhotoError {
    match e {
        image::ImageError::Limits(_) => PhotoError::TooManyPixels,
        image::ImageError::Unsupported(_) => PhotoError::NotAnImage,
        other => PhotoError::Corrupt(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageEncoder, Rgb, RgbImage};

    const SECRET: &[u8] = b"GPS 24.4798N 118.0894E serial SN-0042-SECRET";

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| Rgb([(x * 7) as u8, (y * 5) as u8, 90]));
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(&img)
            .unwrap();
        out
    }

    /// `jpeg` with an APP1 Exif segment right after SOI holding `SECRET`
    /// and an orientation tag of 6 (rotate 90° clockwise), as phones write.
    fn jpeg_with_exif(w: u32, h: u32) -> Vec<u8> {
        let plain = jpeg(w, h);
        // A minimal little-endian TIFF: one IFD entry, Orientation (0x0112)
        // SHORT 1 = 6, then the secret as trailing bytes.
        let mut tiff = vec![b'I', b'I', 42, 0, 8, 0, 0, 0, 1, 0];
        tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]);
        tiff.extend_from_slice(&[0, 0, 0, 0]);
        tiff.extend_from_slice(SECRET);
        let mut seg = b"Exif\0\0".to_vec();
        seg.extend_from_slice(&tiff);
        let len = (seg.len() + 2) as u16;
        let mut out = plain[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&seg);
        out.extend_from_slice(&plain[2..]);
        out
    }

    /// A plain grey `side` × `side` PNG.
    fn png(side: u32) -> Vec<u8> {
        let img = RgbImage::from_pixel(side, side, Rgb([1, 2, 3]));
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(img.as_raw(), side, side, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    /// One PNG chunk: length, type, data and the CRC-32 of type and data.
    fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in kind.iter().chain(data) {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&(!crc).to_be_bytes());
        out
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn exif_is_gone_and_the_orientation_is_applied() {
        let sent = jpeg_with_exif(40, 20);
        assert!(contains(&sent, SECRET), "the fixture carries the secret");
        let clean = clean(&sent).unwrap();
        assert!(!contains(&clean.bytes, SECRET));
        assert!(!contains(&clean.bytes, b"Exif"), "no APP1 Exif segment");
        // Rotated 90°: 40 × 20 becomes 20 × 40.
        assert_eq!((clean.width, clean.height), (20, 40));
        let back = image::load_from_memory(&clean.bytes).unwrap();
        assert_eq!((back.width(), back.height()), (20, 40));
        assert_eq!(clean.sha256, format!("{:x}", Sha256::digest(&clean.bytes)));
    }

    #[test]
    fn png_text_chunks_are_gone() {
        let mut png = png(8);
        // A tEXt chunk before IEND, as image editors and some phones write.
        let iend = png.len() - 12;
        let mut data = b"Comment\0".to_vec();
        data.extend_from_slice(SECRET);
        png.splice(iend..iend, png_chunk(b"tEXt", &data));
        assert!(contains(&png, SECRET));
        assert!(
            image::load_from_memory(&png).is_ok(),
            "the fixture is valid"
        );
        let c = clean(&png).unwrap();
        assert!(!contains(&c.bytes, SECRET));
        assert!(!contains(&c.bytes, b"tEXt"));
    }

    #[test]
    fn text_html_and_svg_are_not_images() {
        for body in [
            b"hello, not a photo".as_slice(),
            b"<html><script>alert(1)</script></html>",
            b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>",
            b"GIF89a\x01\x00\x01\x00",
        ] {
            assert_eq!(clean(body).unwrap_err(), PhotoError::NotAnImage);
        }
    }

    #[test]
    fn oversize_is_refused_before_decoding() {
        let mut big = jpeg(8, 8);
        big.resize(MAX_PHOTO_BYTES + 1, 0);
        assert_eq!(
            clean(&big).unwrap_err(),
            PhotoError::TooLarge {
                limit: MAX_PHOTO_BYTES
            }
        );
    }

    #[test]
    fn a_bomb_claiming_huge_dimensions_is_refused() {
        // A PNG header claiming 60000 × 60000 pixels, no data to speak of.
        let mut png = png(1);
        // IHDR (bytes 8..33) rewritten with width and height of 60000 and
        // a right CRC, so only the limits can refuse it.
        let mut ihdr = png[16..29].to_vec();
        ihdr[..4].copy_from_slice(&60000u32.to_be_bytes());
        ihdr[4..8].copy_from_slice(&60000u32.to_be_bytes());
        png.splice(8..33, png_chunk(b"IHDR", &ihdr));
        assert_eq!(clean(&png).unwrap_err(), PhotoError::TooManyPixels);
    }

    #[test]
    fn a_jpeg_cut_in_its_headers_is_corrupt_not_a_crash() {
        // Cut inside the quantisation tables, before any pixel data. (A
        // JPEG cut inside its scan decodes, its missing part grey, as in
        // browsers: the pixels that arrived are still evidence.)
        let j = jpeg(64, 64);
        let err = clean(&j[..60]).unwrap_err();
        assert!(matches!(err, PhotoError::Corrupt(_)), "{err:?}");
    }
}
