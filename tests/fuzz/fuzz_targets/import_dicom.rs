//! Any bytes given to the importer: the structural check, the header read, the full parse, the
//! tag list and the decoding of the first frames must return (an image or an error), never
//! panic, hang or allocate beyond the input's size.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = outpost::imaging::read_header(data);
    if let Ok(file) = outpost::imaging::DicomFile::parse(data) {
        let _ = file.tags();
        for frame in 0..file.info().frames.min(3) {
            let _ = file.decode_frame(frame);
        }
    }
    let _ = outpost::imaging::photo_size(data);
});
