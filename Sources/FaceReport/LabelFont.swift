/// The label font: an 8x16 bitmap font for printable ASCII (X11 misc-fixed, public domain, through
/// Debian's console font Lat15-Fixed16; `scripts/make_label_font.py` made `LabelFontGlyphs.swift`),
/// drawn at an integer scale. Other characters are drawn as `?`.
public enum LabelFont {
    /// Glyph width in font pixels.
    public static let glyphWidth = 8
    /// Glyph height in font pixels.
    public static let glyphHeight = 16

    /// The width `text` takes at `scale`.
    public static func width(of text: String, scale: Int) -> Int {
        text.unicodeScalars.count * glyphWidth * scale
    }

    /// Whether the glyph of `character` has its font pixel (`column`, `row`) set.
    public static func isSet(_ character: Unicode.Scalar, column: Int, row: Int) -> Bool {
        let code = (32...126).contains(character.value) ? Int(character.value) : Int(UInt8(ascii: "?"))
        let bits = glyphRows[(code - 32) * glyphHeight + row]
        return bits & (0x80 >> UInt8(column)) != 0
    }

    /// Draws `text` with its top-left corner at (`x`, `y`), each font pixel a `scale` x `scale`
    /// square of `color`; only set pixels are drawn (the background stays).
    public static func draw(_ text: String, x: Int, y: Int, scale: Int, color: RGBImage.Color, on image: inout RGBImage)
    {
        for (index, character) in text.unicodeScalars.enumerated() {
            let left = x + index * glyphWidth * scale
            for row in 0..<glyphHeight {
                for column in 0..<glyphWidth where isSet(character, column: column, row: row) {
                    let px = left + column * scale
                    let py = y + row * scale
                    image.fill(x0: px, y0: py, x1: px + scale, y1: py + scale, with: color)
                }
            }
        }
    }
}
