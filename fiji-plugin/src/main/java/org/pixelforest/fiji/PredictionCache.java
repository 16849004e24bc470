package org.pixelforest.fiji;

import ij.gui.ImageCanvas;
import ij.gui.ImageRoi;

import java.awt.AlphaComposite;
import java.awt.Composite;
import java.awt.Graphics;
import java.awt.Graphics2D;
import java.awt.Rectangle;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferInt;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The live panel's predictions of one image: per (t, z) plane, 8-bit class probabilities and the
 * segmentation at full resolution, filled tile by tile at the stride they were predicted at
 * (a zoomed-out canvas shows every few pixels, so only those are predicted first), and their
 * rendering as an ARGB overlay image. Planes hold the classifier version they were predicted with;
 * a new version makes them stale. Rounds write a plane under its own lock; the event thread only
 * looks up planes and reads their tile table, so it never waits for a plane being written.
 */
final class PredictionCache {

	/** Tiles are predicted whole; strides (powers of two up to this) divide them. */
	static final int TILE = 64;

	enum Mode {
		PROBABILITIES("Probabilities"), SEGMENTATION("Segmentation"), UNCERTAINTY("Uncertainty");

		final String label;

		Mode(String label) { this.label = label; }
	}

	/** Colour of uncertainty, drawn with alpha = uncertainty. */
	static final int UNCERTAINTY_RGB = 0xffa000;

	final int width, height;
	private final int tilesX, tilesY;
	private final Map<Long, Plane> planes = new ConcurrentHashMap<>();

	/**
	 * The overlay element of a plane; remembers when it was first painted after new data. On a
	 * zoomed-out canvas it draws a copy already scaled to the screen (made off the event thread by
	 * {@link #rescale}), so a repaint is a copy, not a scaling of the whole plane: drawing a
	 * 1344 x 1024 overlay scaled took up to 100 ms of the event thread under Xvfb.
	 */
	static final class PredictionRoi extends ImageRoi {
		volatile long dataTime, paintedTime;
		volatile int dataVersion, paintedVersion;
		private final BufferedImage source;
		private volatile BufferedImage screen;
		private volatile double screenMag;
		private volatile long screenTime;

		PredictionRoi(BufferedImage bi) {
			super(0, 0, bi);
			source = bi;
			setProperty(RoiIndex.NOT_A_LABEL, "prediction");
			setName("Pixel Forest prediction");
		}

		/**
		 * Makes the screen-sized copy for a canvas at magnification {@code mag} < 1 showing the whole
		 * image (any thread but the event thread): the size ImageJ's canvas draws the image at.
		 */
		void rescale(ImageCanvas canvas) {
			double mag = canvas.getMagnification();
			if (mag >= 1) return;
			long time = dataTime;
			int w = (int) (source.getWidth() * mag + 0.5), h = (int) (source.getHeight() * mag + 0.5);
			if (w < 1 || h < 1) return;
			BufferedImage s = new BufferedImage(w, h, BufferedImage.TYPE_INT_ARGB_PRE);
			Graphics2D g = s.createGraphics();
			g.drawImage(source, 0, 0, w, h, null);
			g.dispose();
			screenMag = mag;
			screenTime = time;
			screen = s;
		}

		/**
		 * Drawn exactly as ImageJ's canvas draws the image (the same source rectangle onto the same
		 * screen rectangle, ImageCanvas.paint's rounding), so that each prediction pixel covers its
		 * image pixel at every zoom; the screen-sized copy when zoomed out on the whole image.
		 */
		@Override
		public void draw(Graphics g) {
			if (ic == null) { super.draw(g); return; }
			Rectangle sr = ic.getSrcRect();
			double mag = ic.getMagnification();
			int dw = (int) (sr.width * mag + 0.5), dh = (int) (sr.height * mag + 0.5);
			Graphics2D g2 = (Graphics2D) g;
			Composite saved = g2.getComposite();
			if (getOpacity() < 1) g2.setComposite(AlphaComposite.getInstance(AlphaComposite.SRC_OVER, (float) getOpacity()));
			BufferedImage s = screen;
			boolean whole = sr.x == 0 && sr.y == 0 && sr.width == source.getWidth() && sr.height == source.getHeight();
			if (s != null && whole && screenMag == mag && screenTime >= dataTime && s.getWidth() == dw && s.getHeight() == dh)
				g2.drawImage(s, 0, 0, null);
			else
				g2.drawImage(source, 0, 0, dw, dh, sr.x, sr.y, sr.x + sr.width, sr.y + sr.height, null);
			g2.setComposite(saved);
			if (paintedVersion != dataVersion || paintedTime < dataTime) {
				paintedTime = System.currentTimeMillis();
				paintedVersion = dataVersion;
			}
		}
	}

	static final class Plane {
		final int t, z;
		int version;
		int nClasses;
		byte[][] probs;
		byte[] seg;
		final byte[] known;  // per tile: 0 = not predicted, else the stride it was predicted at
		final BufferedImage image;
		final int[] argb;
		final PredictionRoi roi;

		Plane(int t, int z, int w, int h, int tiles) {
			this.t = t;
			this.z = z;
			known = new byte[tiles];
			// premultiplied: the canvas draws it scaled and blended on every repaint, and Java2D's
			// software loops (Xvfb, remote desktops) blend premultiplied pixels without converting them
			image = new BufferedImage(w, h, BufferedImage.TYPE_INT_ARGB_PRE);
			argb = ((DataBufferInt) image.getRaster().getDataBuffer()).getData();
			roi = new PredictionRoi(image);
		}
	}

	PredictionCache(int width, int height) {
		this.width = width;
		this.height = height;
		tilesX = (width + TILE - 1) / TILE;
		tilesY = (height + TILE - 1) / TILE;
	}

	private static long key(int t, int z) { return ((long) t << 32) | (z & 0xffffffffL); }

	/** The plane's cached overlay (null: nothing predicted there yet). */
	Plane get(int t, int z) { return planes.get(key(t, z)); }

	/**
	 * The tile-aligned rectangle covering the tiles of {@code view} that are not known for
	 * {@code version} at {@code stride} or finer; null when every one is.
	 */
	Rectangle missing(int t, int z, Rectangle view, int stride, int version) {
		Rectangle v = view.intersection(new Rectangle(0, 0, width, height));
		if (v.isEmpty()) return null;
		Plane p = planes.get(key(t, z));
		int tx0 = v.x / TILE, tx1 = (v.x + v.width - 1) / TILE, ty0 = v.y / TILE, ty1 = (v.y + v.height - 1) / TILE;
		int mx0 = Integer.MAX_VALUE, my0 = Integer.MAX_VALUE, mx1 = -1, my1 = -1;
		for (int ty = ty0; ty <= ty1; ty++) for (int tx = tx0; tx <= tx1; tx++) {
			int k = p == null || p.version != version ? 0 : p.known[ty * tilesX + tx];
			if (k != 0 && k <= stride) continue;
			mx0 = Math.min(mx0, tx); mx1 = Math.max(mx1, tx); my0 = Math.min(my0, ty); my1 = Math.max(my1, ty);
		}
		if (mx1 < 0) return null;
		int x0 = mx0 * TILE, y0 = my0 * TILE;
		return new Rectangle(x0, y0, Math.min(width, (mx1 + 1) * TILE) - x0, Math.min(height, (my1 + 1) * TILE) - y0);
	}

	/**
	 * Stores a prediction of {@code rect} (tile-aligned) sampled every {@code stride} pixels from the
	 * centre of each cell: {@code data} holds K probability planes then the segmentation, each
	 * {@code h x w}; each sample fills its stride x stride cell. Returns the plane.
	 */
	Plane put(int t, int z, Rectangle rect, int stride, byte[] data, int nClasses, int h, int w, int version) {
		Plane p = planes.computeIfAbsent(key(t, z), k -> new Plane(t, z, width, height, tilesX * tilesY));
		synchronized (p) { fill(p, rect, stride, data, nClasses, h, w, version); }
		return p;
	}

	private void fill(Plane p, Rectangle rect, int stride, byte[] data, int nClasses, int h, int w, int version) {
		p.roi.dataTime = Long.MAX_VALUE;  // changing: no paint counts until render() has drawn the new data
		if (p.version != version || p.nClasses != nClasses) {
			java.util.Arrays.fill(p.known, (byte) 0);
			p.version = version;
		}
		if (p.probs == null || p.nClasses != nClasses) {
			p.probs = new byte[nClasses][width * height];
			p.seg = new byte[width * height];
			p.nClasses = nClasses;
		}
		int plane = h * w;
		for (int i = 0; i < h; i++) {
			int y0 = rect.y + i * stride, y1 = Math.min(height, y0 + stride);
			for (int j = 0; j < w; j++) {
				int x0 = rect.x + j * stride, x1 = Math.min(width, x0 + stride);
				int src = i * w + j;
				for (int y = y0; y < y1; y++) {
					int row = y * width;
					for (int k = 0; k < nClasses; k++) java.util.Arrays.fill(p.probs[k], row + x0, row + x1, data[k * plane + src]);
					java.util.Arrays.fill(p.seg, row + x0, row + x1, data[nClasses * plane + src]);
				}
			}
		}
		for (int ty = rect.y / TILE; ty * TILE < rect.y + rect.height; ty++)
			for (int tx = rect.x / TILE; tx * TILE < rect.x + rect.width; tx++) {
				int i = ty * tilesX + tx;
				if (p.known[i] == 0 || p.known[i] > stride) p.known[i] = (byte) stride;
			}
	}

	/** Drops every plane but (t, z): after a retrain they are stale, and they are predicted again when shown. */
	void keepOnly(int t, int z) { planes.keySet().removeIf(k -> k != key(t, z)); }

	void clear() { planes.clear(); }

	/** Renders the known pixels of {@code rect} (null: the whole plane) in the given mode and class colours. */
	void render(Plane p, Rectangle rect, Mode mode, int[] colors) {
		synchronized (p) { paint(p, rect, mode, colors); }
	}

	private void paint(Plane p, Rectangle rect, Mode mode, int[] colors) {
		if (p.probs == null) return;
		Rectangle r = rect == null ? new Rectangle(0, 0, width, height) : rect.intersection(new Rectangle(0, 0, width, height));
		int K = p.nClasses;
		for (int y = r.y; y < r.y + r.height; y++) {
			for (int x = r.x; x < r.x + r.width; x++) {
				int i = y * width + x;
				if (p.known[(y / TILE) * tilesX + x / TILE] == 0) { p.argb[i] = 0; continue; }
				switch (mode) {
					case SEGMENTATION: {
						int s = p.seg[i] & 0xff;
						p.argb[i] = s == 0 || s > colors.length ? 0 : 0xff000000 | colors[s - 1];
						break;
					}
					case UNCERTAINTY: {
						int a = 0, b = 0;  // the two largest probabilities
						for (int k = 0; k < K; k++) {
							int v = p.probs[k][i] & 0xff;
							if (v > a) { b = a; a = v; } else if (v > b) b = v;
						}
						int u = 255 - (a - b);  // alpha = uncertainty, colour premultiplied by it
						p.argb[i] = (u << 24) | ((((UNCERTAINTY_RGB >> 16) & 0xff) * u / 255) << 16)
							| ((((UNCERTAINTY_RGB >> 8) & 0xff) * u / 255) << 8) | ((UNCERTAINTY_RGB & 0xff) * u / 255);
						break;
					}
					default: {
						int rr = 0, gg = 0, bb = 0;
						for (int k = 0; k < K && k < colors.length; k++) {
							int v = p.probs[k][i] & 0xff, c = colors[k];
							rr += v * ((c >> 16) & 0xff); gg += v * ((c >> 8) & 0xff); bb += v * (c & 0xff);
						}
						p.argb[i] = 0xff000000 | (Math.min(255, rr / 255) << 16) | (Math.min(255, gg / 255) << 8) | Math.min(255, bb / 255);
					}
				}
			}
		}
		p.roi.dataVersion = p.version;
		p.roi.dataTime = System.currentTimeMillis();
	}

	/** The class (1..K) at a pixel of a plane, 0 when not predicted; for tests and the status line. */
	/** A copy of a plane's segmentation (0 where not predicted), for tests and Create result's check. */
	byte[] segmentation(int t, int z) {
		Plane p = planes.get(key(t, z));
		byte[] out = new byte[width * height];
		if (p == null) return out;
		synchronized (p) {
			if (p.seg == null) return out;
			for (int y = 0; y < height; y++) for (int x = 0; x < width; x++)
				if (p.known[(y / TILE) * tilesX + x / TILE] != 0) out[y * width + x] = p.seg[y * width + x];
		}
		return out;
	}
}
