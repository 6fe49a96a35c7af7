import FaceCore
import FaceImage

/// An image with its faces drawn on it, as `facewatch annotate` writes it.
public enum AnnotatedPicture {
    /// Decodes `bytes` upright (the EXIF orientation applied, as the encoder saw the image), draws
    /// `faces` with `annotator` and encodes the result as `format`.
    ///
    /// - Throws: `Failure` when the image cannot be decoded, `PictureEncodingError` when the result
    ///   cannot be encoded.
    public static func render(
        _ decoded: DecodedImage, faces: [AnnotatedFace], format: PictureFormat, annotator: Annotator = Annotator()
    ) throws(PictureEncodingError) -> [UInt8] {
        var picture = RGBImage(decoded)
        annotator.draw(faces, on: &picture)
        return try picture.encoded(as: format, quality: 92)
    }
}
