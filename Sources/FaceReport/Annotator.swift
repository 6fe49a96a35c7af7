import FaceCore

/// Draws each face's box on an image and, for a face that matches a known person, a label under the
/// box with the closest person's name and distance (face_recognition's best-known example, upright).
public struct Annotator: Sendable {
    /// The box and label colour: pure green, which no skin has, so a box stays visible on any face.
    public var boxColor = RGBImage.Color(red: 0, green: 255, blue: 0)
    /// The label text colour, on the box colour.
    public var textColor = RGBImage.Color(red: 0, green: 0, blue: 0)

    public init() {}

    /// Where one face's marks went, in image pixels (`[x0, x1) x [y0, y1)`).
    public struct Marks: Sendable, Equatable {
        /// The box's outer edge (the face's location, clipped to the image).
        public var box: Rectangle
        /// The line width of the box.
        public var lineWidth: Int
        /// The label's filled background, nil when the face has no match.
        public var label: Rectangle?
        /// Where the label's text starts, and its scale (font pixels are `textScale` wide).
        public var textX = 0
        public var textY = 0
        public var textScale = 0
    }

    /// A rectangle `[x0, x1) x [y0, y1)`.
    public struct Rectangle: Sendable, Equatable {
        public var x0: Int
        public var y0: Int
        public var x1: Int
        public var y1: Int
    }

    /// The line width for an image: 2 pixels up to 500 pixels on the shorter side, then 1 more per
    /// 250.
    public static func lineWidth(width: Int, height: Int) -> Int { max(2, min(width, height) / 250) }

    /// The text scale for an image: 1 (16-pixel-high letters) up to 600 pixels on the shorter side,
    /// then 1 more per 600, so a label stays readable when the photo is shown smaller.
    public static func textScale(width: Int, height: Int) -> Int { max(1, min(width, height) / 600 + 1) }

    /// Draws `faces` on `image` and says where each mark went.
    @discardableResult
    public func draw(_ faces: [AnnotatedFace], on image: inout RGBImage) -> [Marks] {
        let line = Self.lineWidth(width: image.width, height: image.height)
        let scale = Self.textScale(width: image.width, height: image.height)
        return faces.map { face in
            let box = Rectangle(
                x0: max(0, face.location.left), y0: max(0, face.location.top),
                x1: min(image.width, face.location.right), y1: min(image.height, face.location.bottom))
            let line = min(line, max(1, min(box.x1 - box.x0, box.y1 - box.y0) / 2))
            image.fill(x0: box.x0, y0: box.y0, x1: box.x1, y1: box.y0 + line, with: boxColor)
            image.fill(x0: box.x0, y0: box.y1 - line, x1: box.x1, y1: box.y1, with: boxColor)
            image.fill(x0: box.x0, y0: box.y0, x1: box.x0 + line, y1: box.y1, with: boxColor)
            image.fill(x0: box.x1 - line, y0: box.y0, x1: box.x1, y1: box.y1, with: boxColor)
            var marks = Marks(box: box, lineWidth: line, label: nil)
            if let text = face.label {
                let padding = 2 * scale
                let labelWidth = LabelFont.width(of: text, scale: scale) + 2 * padding
                let labelHeight = LabelFont.glyphHeight * scale + 2 * padding
                // Under the box when it fits, else inside the box along its bottom edge.
                let y0 = box.y1 + labelHeight <= image.height ? box.y1 : max(0, box.y1 - labelHeight)
                let x0 = max(0, min(box.x0, image.width - labelWidth))
                let label = Rectangle(
                    x0: x0, y0: y0, x1: min(image.width, x0 + labelWidth), y1: min(image.height, y0 + labelHeight))
                image.fill(x0: label.x0, y0: label.y0, x1: label.x1, y1: label.y1, with: boxColor)
                LabelFont.draw(text, x: x0 + padding, y: y0 + padding, scale: scale, color: textColor, on: &image)
                marks.label = label
                (marks.textX, marks.textY, marks.textScale) = (x0 + padding, y0 + padding, scale)
            }
            return marks
        }
    }
}
