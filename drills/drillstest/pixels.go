package drillstest

import (
	"image"
	"image/color"
	"strconv"
)

// TimelinePixels counts, per step, the pixels of the timeline's bars in a screenshot: the report draws them
// opaque in its BarColours, reboot #0969da and reattach #2da44e. The legend's swatches are too small to
// matter.
func TimelinePixels(img image.Image) map[string]int {
	out := map[string]int{}
	for step, hex := range map[string]string{"reboot": "#0969da", "reattach": "#2da44e"} {
		for _, b := range Bands(img, hex) {
			out[step] += b.Pixels
		}
	}
	return out
}

// Band is a run of screenshot rows that show a colour: one lane of the timeline when the colour is a bar's.
type Band struct {
	Top, Bottom int // rows, Bottom exclusive
	Left, Right int // the leftmost and one past the rightmost column showing the colour
	Pixels      int
}

// Bands finds the horizontal bands of the image that show the colour (#rrggbb, within 8 on every channel).
// Rows of at most 12 pixels of it, a legend's swatch, are not a lane's.
func Bands(img image.Image, hex string) []Band {
	want := parseHex(hex)
	var out []Band
	var cur *Band
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		n, left, right := 0, bounds.Max.X, bounds.Min.X
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			if near(img.At(x, y), want) {
				n++
				left, right = min(left, x), max(right, x+1)
			}
		}
		if n <= 12 {
			cur = nil
			continue
		}
		if cur == nil {
			out = append(out, Band{Top: y, Left: left, Right: right})
			cur = &out[len(out)-1]
		}
		cur.Bottom, cur.Pixels = y+1, cur.Pixels+n
		cur.Left, cur.Right = min(cur.Left, left), max(cur.Right, right)
	}
	return out
}

func parseHex(hex string) color.RGBA {
	v, err := strconv.ParseUint(hex[1:], 16, 32)
	if err != nil || len(hex) != 7 {
		panic("drillstest: not a #rrggbb colour: " + hex)
	}
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xff}
}

func near(c color.Color, want color.RGBA) bool {
	r, g, b, _ := c.RGBA()
	within := func(got uint32, want uint8) bool {
		got >>= 8
		return got+8 >= uint32(want) && got <= uint32(want)+8
	}
	return within(r, want.R) && within(g, want.G) && within(b, want.B)
}
