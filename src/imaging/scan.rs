//! A structural check of a DICOM file before the full parser sees it.
//!
//! Files are untrusted: a corrupt or hostile file can claim an element of gigabytes, and a parser
//! that believes it reserves and zeroes that much memory (seconds to minutes, and gigabytes) before
//! finding out the file is short. This walk reads only element headers, checks every defined
//! length against the bytes that are really there (inside its sequence item, if any), bounds the
//! nesting depth, and so guarantees that nothing afterwards allocates more than the file's size.

use super::ImagingError;

const ITEM: (u16, u16) = (0xFFFE, 0xE000);
const ITEM_END: (u16, u16) = (0xFFFE, 0xE00D);
const SEQUENCE_END: (u16, u16) = (0xFFFE, 0xE0DD);
const UNDEFINED: u32 = 0xFFFF_FFFF;
/// Deeper nesting than this is not found in real files and would only serve to exhaust the stack.
const MAX_DEPTH: usize = 64;

/// Transfer syntaxes whose dataset this walk can read (the rest is deflated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    ImplicitLittle,
    ExplicitLittle,
    ExplicitBig,
}

/// Checks the structure of a whole DICOM file (preamble, file meta group, dataset).
pub(crate) fn check_structure(bytes: &[u8]) -> Result<(), ImagingError> {
    let start = if bytes.get(128..132) == Some(b"DICM") {
        132
    } else if bytes.get(0..4) == Some(b"DICM") {
        4
    } else {
        return Err(ImagingError::NotDicom(
            "no DICOM file header (the 'DICM' marker is missing)".to_owned(),
        ));
    };
    let mut cursor = Cursor {
        bytes,
        pos: start,
        end: bytes.len(),
        encoding: Encoding::ExplicitLittle,
    };
    // The file meta group is always explicit VR little endian.
    let mut transfer_syntax = None;
    while cursor.peek_group() == Some(0x0002) {
        let element = cursor.header()?;
        let value = cursor.value(&element)?;
        if (element.group, element.element) == (0x0002, 0x0010) {
            let uid = String::from_utf8_lossy(value)
                .trim_end_matches(['\0', ' '])
                .to_owned();
            transfer_syntax = Some(uid);
        }
    }
    let Some(transfer_syntax) = transfer_syntax else {
        return Err(ImagingError::NotDicom(
            "the file header names no transfer syntax".to_owned(),
        ));
    };
    let encoding = match transfer_syntax.as_str() {
        "1.2.840.10008.1.2" => Encoding::ImplicitLittle,
        "1.2.840.10008.1.2.2" => Encoding::ExplicitBig,
        // Deflated datasets cannot be walked without inflating them: the decoder's own limits
        // apply, and the import's file-size cap bounds the input.
        "1.2.840.10008.1.2.1.99" => return Ok(()),
        _ => Encoding::ExplicitLittle,
    };
    cursor.encoding = encoding;
    cursor.elements(0, false)
}

/// The VR the standard dictionary gives a tag (what the parser uses for implicit VR files).
fn dictionary_vr(group: u16, element: u16) -> Option<[u8; 2]> {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    let entry =
        dicom_dictionary_std::StandardDataDictionary.by_tag(dicom_core::Tag(group, element))?;
    let vr = entry.vr().relaxed().to_string();
    let bytes = vr.as_bytes();
    Some([*bytes.first()?, *bytes.get(1)?])
}

struct Header {
    group: u16,
    element: u16,
    vr: Option<[u8; 2]>,
    length: u32,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    end: usize,
    encoding: Encoding,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ImagingError> {
        let stop = self.pos.checked_add(n).filter(|stop| *stop <= self.end);
        let slice = stop.and_then(|stop| self.bytes.get(self.pos..stop));
        match slice {
            Some(slice) => {
                self.pos += n;
                Ok(slice)
            }
            None => Err(ImagingError::Malformed(format!(
                "the file ends inside an element header at byte {}",
                self.pos
            ))),
        }
    }

    fn u16_from(&self, b: [u8; 2]) -> u16 {
        match self.encoding {
            Encoding::ExplicitBig => u16::from_be_bytes(b),
            _ => u16::from_le_bytes(b),
        }
    }

    fn u16(&mut self) -> Result<u16, ImagingError> {
        let b = self.take(2)?;
        Ok(self.u16_from([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, ImagingError> {
        let b = self.take(4)?;
        let b = [b[0], b[1], b[2], b[3]];
        Ok(match self.encoding {
            Encoding::ExplicitBig => u32::from_be_bytes(b),
            _ => u32::from_le_bytes(b),
        })
    }

    fn peek_group(&self) -> Option<u16> {
        if self.pos >= self.end {
            return None;
        }
        let b = self.bytes.get(self.pos..self.pos + 2)?;
        Some(self.u16_from([b[0], b[1]]))
    }

    /// Reads one element header. Item and delimiter tags always have a 4-byte length and no VR.
    fn header(&mut self) -> Result<Header, ImagingError> {
        let group = self.u16()?;
        let element = self.u16()?;
        if group == 0xFFFE {
            let length = self.u32()?;
            return Ok(Header {
                group,
                element,
                vr: None,
                length,
            });
        }
        if self.encoding == Encoding::ImplicitLittle {
            // The parser takes the VR from the dictionary: so does this walk, so both read
            // sequences and binary values alike.
            let length = self.u32()?;
            return Ok(Header {
                group,
                element,
                vr: dictionary_vr(group, element),
                length,
            });
        }
        let vr_bytes = self.take(2)?;
        let vr = [vr_bytes[0], vr_bytes[1]];
        // Exactly the parser's rule (PS3.5 7.1.2): these VRs have a 16-bit length; every other
        // VR, an unknown one included, has two reserved bytes and a 32-bit length.
        let short = matches!(
            &vr,
            b"AE"
                | b"AS"
                | b"AT"
                | b"CS"
                | b"DA"
                | b"DS"
                | b"DT"
                | b"FL"
                | b"FD"
                | b"IS"
                | b"LO"
                | b"LT"
                | b"PN"
                | b"SH"
                | b"SL"
                | b"SS"
                | b"ST"
                | b"TM"
                | b"UI"
                | b"UL"
                | b"US"
        );
        let length = if !short {
            self.take(2)?;
            self.u32()?
        } else {
            u32::from(self.u16()?)
        };
        Ok(Header {
            group,
            element,
            vr: Some(vr),
            length,
        })
    }

    /// Skips a defined-length value after checking it is really there.
    fn value(&mut self, header: &Header) -> Result<&'a [u8], ImagingError> {
        if header.length == UNDEFINED {
            return Err(ImagingError::Malformed(format!(
                "element ({:04X},{:04X}) has an undefined length where none is allowed",
                header.group, header.element
            )));
        }
        let length = header.length as usize;
        // Binary values are read as whole numbers of their units: a length that is not a
        // multiple would leave the parser's reading position inside the value.
        let unit = match header.vr.as_ref() {
            Some(b"SS" | b"US" | b"OW") => 2,
            Some(b"AT" | b"FL" | b"SL" | b"UL" | b"OF" | b"OL") => 4,
            Some(b"FD" | b"OD" | b"SV" | b"UV" | b"OV") => 8,
            _ => 1,
        };
        if !length.is_multiple_of(unit) {
            return Err(ImagingError::Malformed(format!(
                "element ({:04X},{:04X}) has a length of {length} bytes, not a whole number of its {unit}-byte values",
                header.group, header.element
            )));
        }
        let available = self.end.saturating_sub(self.pos);
        if length > available {
            return Err(ImagingError::Malformed(format!(
                "element ({:04X},{:04X}) claims {} bytes but only {} remain",
                header.group, header.element, length, available
            )));
        }
        self.take(length)
    }

    /// Walks elements up to the end of the current container, or to an item delimiter when the
    /// container is an item of undefined length.
    fn elements(&mut self, depth: usize, in_undefined_item: bool) -> Result<(), ImagingError> {
        if depth > MAX_DEPTH {
            return Err(ImagingError::Malformed(
                "sequences are nested too deeply".to_owned(),
            ));
        }
        while self.pos < self.end {
            // A few stray bytes after the last element (padding some writers leave) are not an
            // element; the parser stops there too.
            if depth == 0 && !in_undefined_item && self.end - self.pos < 8 {
                return Ok(());
            }
            let header = self.header()?;
            let tag = (header.group, header.element);
            if tag == ITEM_END && in_undefined_item {
                return Ok(());
            }
            if tag == ITEM || tag == ITEM_END || tag == SEQUENCE_END {
                return Err(ImagingError::Malformed(format!(
                    "a sequence delimiter appears outside a sequence at byte {}",
                    self.pos
                )));
            }
            let is_sequence = header.vr.as_ref() == Some(b"SQ");
            if header.length == UNDEFINED {
                let encapsulated = matches!(header.vr.as_ref(), Some(b"OB" | b"OW"));
                let unknown = matches!(header.vr.as_ref(), None | Some(b"UN"));
                if encapsulated {
                    self.fragments()?;
                } else if is_sequence || unknown {
                    self.items(depth + 1)?;
                } else {
                    return Err(ImagingError::Malformed(format!(
                        "element ({:04X},{:04X}) has an undefined length",
                        header.group, header.element
                    )));
                }
            } else if is_sequence {
                let body = self.value(&header)?;
                let mut inner = Cursor {
                    bytes: self.bytes,
                    pos: self.pos - body.len(),
                    end: self.pos,
                    encoding: self.encoding,
                };
                inner.items(depth + 1)?;
            } else {
                self.value(&header)?;
            }
        }
        if in_undefined_item {
            return Err(ImagingError::Malformed(
                "the file ends inside a sequence item".to_owned(),
            ));
        }
        Ok(())
    }

    /// Walks the items of a sequence until its delimiter or the end of its container.
    fn items(&mut self, depth: usize) -> Result<(), ImagingError> {
        while self.pos < self.end {
            let header = self.header()?;
            match (header.group, header.element) {
                SEQUENCE_END => return Ok(()),
                ITEM if header.length == UNDEFINED => self.elements(depth, true)?,
                ITEM => {
                    let body = self.value(&header)?;
                    let mut inner = Cursor {
                        bytes: self.bytes,
                        pos: self.pos - body.len(),
                        end: self.pos,
                        encoding: self.encoding,
                    };
                    inner.elements(depth, false)?;
                }
                (group, element) => {
                    return Err(ImagingError::Malformed(format!(
                        "({group:04X},{element:04X}) found where a sequence item was expected"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Walks the fragments of encapsulated (compressed) pixel data.
    fn fragments(&mut self) -> Result<(), ImagingError> {
        // Fragment headers are little endian whatever the dataset says (encapsulation needs an
        // explicit little endian transfer syntax).
        loop {
            let header = self.header()?;
            match (header.group, header.element) {
                SEQUENCE_END => return Ok(()),
                ITEM => {
                    self.value(&header)?;
                }
                (group, element) => {
                    return Err(ImagingError::Malformed(format!(
                        "({group:04X},{element:04X}) found among compressed pixel data fragments"
                    )));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dataset: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0u8; 128];
        bytes.extend_from_slice(b"DICM");
        // (0002,0010) UI "1.2.840.10008.1.2.1\0"
        let uid = b"1.2.840.10008.1.2.1\0";
        bytes.extend_from_slice(&[0x02, 0x00, 0x10, 0x00, b'U', b'I']);
        bytes.extend_from_slice(&(uid.len() as u16).to_le_bytes());
        bytes.extend_from_slice(uid);
        bytes.extend_from_slice(dataset);
        bytes
    }

    #[test]
    fn a_huge_claimed_length_is_refused_before_any_allocation() {
        // (7FE0,0010) OW with a length of 3.7 GB in a file of a few hundred bytes.
        let mut dataset = vec![0xE0, 0x7F, 0x10, 0x00, b'O', b'W', 0, 0];
        dataset.extend_from_slice(&3_700_000_000u32.to_le_bytes());
        dataset.extend_from_slice(&[0u8; 16]);
        let err = check_structure(&file(&dataset)).unwrap_err();
        assert!(err.to_string().contains("claims 3700000000 bytes"), "{err}");
    }

    #[test]
    fn a_sound_small_file_passes() {
        // (0010,0010) PN "Doe^J " then an empty sequence of undefined length.
        let mut dataset = vec![0x10, 0x00, 0x10, 0x00, b'P', b'N', 6, 0];
        dataset.extend_from_slice(b"Doe^J ");
        dataset.extend_from_slice(&[0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0]);
        dataset.extend_from_slice(&UNDEFINED.to_le_bytes());
        dataset.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        check_structure(&file(&dataset)).unwrap();
    }

    #[test]
    fn an_item_longer_than_its_sequence_is_refused() {
        let mut dataset = vec![0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0];
        dataset.extend_from_slice(&8u32.to_le_bytes());
        dataset.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
        dataset.extend_from_slice(&1000u32.to_le_bytes());
        dataset.extend_from_slice(&[0u8; 32]);
        assert!(check_structure(&file(&dataset)).is_err());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut dataset = Vec::new();
        for _ in 0..200 {
            dataset.extend_from_slice(&[0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0]);
            dataset.extend_from_slice(&UNDEFINED.to_le_bytes());
            dataset.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
            dataset.extend_from_slice(&UNDEFINED.to_le_bytes());
        }
        let err = check_structure(&file(&dataset)).unwrap_err();
        assert!(err.to_string().contains("nested too deeply"), "{err}");
    }

    #[test]
    fn no_marker_is_not_dicom() {
        assert!(matches!(
            check_structure(b" not a dicom file at all"),
            Err(ImagingError::NotDicom(_))
        ));
    }
}
