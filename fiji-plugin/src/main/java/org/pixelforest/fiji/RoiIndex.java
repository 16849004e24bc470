package org.pixelforest.fiji;

import ij.ImagePlus;
import ij.gui.ImageRoi;
import ij.gui.Overlay;
import ij.IJ;
import ij.gui.Roi;
import ij.gui.TextRoi;
import ij.plugin.frame.RoiManager;
import ij.process.ImageProcessor;
import org.apposed.appose.NDArray;

import java.awt.Color;
import java.awt.Point;
import java.awt.Rectangle;
import java.nio.IntBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.pixelforest.fiji.Protocol.Key;

/**
 * ROIs rasterised with ImageJ's own masks into a (T, Z, Y, X) int32 index image
 * (1 + index of the last ROI covering a pixel), plus each ROI's name, group, kind and
 * colour. The Python side turns them into classes with the same rules as
 * everywhere: group, then a class:NAME name or class-name prefix, then stroke colour.
 * What the Python side refuses (src/pixelforest/io/rois.py) is refused here too, before any
 * work, in the same words: a ROI positioned past the image's slices or frames. A ROI that covers
 * no pixel (outside the image, a line of no length) is left out as in Python, and said in the Log.
 */
public final class RoiIndex {

	public final NDArray index;
	/** Each ROI's name, group, kind and colour ({@link Protocol.RoiKey}), in index order. */
	public final List<Map<String, Object>> rois;
	public final int count;

	private RoiIndex(NDArray index, List<Map<String, Object>> rois) {
		this.index = index;
		this.rois = rois;
		this.count = rois.size();
	}

	/** The worker's parameters for these ROIs: their index image, their name/group/colour and ImageJ's group names. */
	public Map<String, Object> params() {
		Map<String, Object> p = new HashMap<>();
		p.put(Key.ROI_INDEX, index);
		p.put(Key.ROIS, rois);
		p.put(Key.GROUP_NAMES, groupNames());
		return p;
	}

	/**
	 * The label ROIs of "ROI Manager" or "Overlay": those that carry a class by Python's rule
	 * ({@link #hasClass}; {@code classes}: the class names given, if any). Text, images and Pixel
	 * Forest's own marks are never labels. ROIs without a class are left out, not refused (Python
	 * refuses them, see roi_class_name in io/rois.py): the ROI Manager and the Overlay often hold
	 * other ROIs too (measurements, annotations), and what is left out is said in the Log.
	 */
	public static Roi[] rois(ImagePlus imp, String source, List<String> classes) throws PythonService.PixelForestException {
		Roi[] all;
		String where;
		if (source.toLowerCase().startsWith("overlay")) {
			Overlay ov = imp.getOverlay();
			if (ov == null || ov.size() == 0) throw new PythonService.PixelForestException("The image \"" + imp.getTitle() + "\" has no Overlay ROIs.\nDraw ROIs and add them with Image > Overlay > Add Selection.");
			all = ov.toArray();
			where = "the Overlay of \"" + imp.getTitle() + "\"";
		}
		else {
			RoiManager rm = RoiManager.getInstance();
			if (rm == null || rm.getCount() == 0) throw new PythonService.PixelForestException("The ROI Manager is empty.\nDraw ROIs for at least two classes and add them (t); put each class in its own group\n(Edit > Selection > Properties... > Group) or name them class:NAME.");
			all = rm.getRoisAsArray();
			where = "the ROI Manager";
		}
		List<Roi> candidates = new ArrayList<>();
		int text = 0, marks = 0, unclassed = 0;
		for (Roi roi : all) {
			if (roi instanceof TextRoi) text++;
			else if (!isLabel(roi)) marks++;
			else candidates.add(roi);
		}
		List<String> known = classes.isEmpty() ? knownClasses(candidates) : classes;
		List<Roi> labels = new ArrayList<>();
		for (Roi roi : candidates) {
			if (hasClass(roi, known)) labels.add(roi);
			else unclassed++;
		}
		if (text + marks + unclassed > 0) {
			List<String> parts = new ArrayList<>();
			if (text > 0) parts.add(text + " text");
			if (marks > 0) parts.add(marks + " image or mark" + (marks > 1 ? "s" : ""));
			if (unclassed > 0) parts.add(unclassed + " without a class (no group, no class:NAME name or class-name prefix, no colour of its own)");
			IJ.log("Pixel Forest: labels from " + where + ": " + labels.size() + " ROIs; left out " + String.join(", ", parts) + ".");
		}
		if (labels.isEmpty())
			throw new PythonService.PixelForestException(where.substring(0, 1).toUpperCase() + where.substring(1) + " holds no ROI with a class.\n"
				+ "Put each class in its own group (Edit > Selection > Properties... > Group), name ROIs class:NAME,\nor give each class a colour of its own.");
		return labels.toArray(new Roi[0]);
	}

	/**
	 * The index image of label ROIs on {@code imp}. Refused, before anything is allocated: a ROI
	 * positioned past the image's slices or frames. Left out with a Log line: ROIs that cover no pixel
	 * of the image; refused when none covers one.
	 */
	public static RoiIndex build(ImagePlus imp, Roi[] rois) throws PythonService.PixelForestException {
		int w = imp.getWidth(), h = imp.getHeight();
		int c = imp.getNChannels(), z = imp.getNSlices(), t = imp.getNFrames();
		List<List<int[]>> where = new ArrayList<>();
		for (Roi roi : rois) {
			String why = misplaced(roi, c, z, t);
			if (why != null) throw new PythonService.PixelForestException(why + ": set its position (Edit > Selection > Properties...) or delete it.");
			where.add(planes(roi, c, z, t));
		}
		NDArray nd = new NDArray(NDArray.DType.INT32, new NDArray.Shape(NDArray.Shape.Order.C_ORDER, t, z, h, w));
		IntBuffer buf = ImageBridge.buffer(nd).asIntBuffer();
		List<Map<String, Object>> meta = new ArrayList<>();
		List<String> empty = new ArrayList<>();
		for (int i = 0; i < rois.length; i++) {
			Roi roi = rois[i];
			int value = i + 1;
			int[] count = { 0 };
			for (int[] tz : where.get(i)) {
				int base = (tz[0] * z + tz[1]) * w * h;
				paint(roi, w, h, p -> { buf.put(base + p, value); count[0]++; });
			}
			if (count[0] == 0) empty.add(named(roi));
			meta.add(describe(roi));
		}
		if (empty.size() == rois.length) {
			nd.close();
			throw new PythonService.PixelForestException("The ROIs cover no pixel of the image \"" + imp.getTitle() + "\" (are they outside it?).");
		}
		if (!empty.isEmpty())
			IJ.log("Pixel Forest: left out " + empty.size() + (empty.size() > 1 ? " ROIs that cover" : " ROI that covers") + " no pixel of \""
				+ imp.getTitle() + "\" (outside it, or a line of no length): " + String.join(", ", empty) + ".");
		return new RoiIndex(nd, meta);
	}

	/** A ROI as messages name it: ROI "its name", or its kind and place when it has none. */
	static String named(Roi roi) {
		String name = roi.getName();
		if (name != null && !name.isEmpty()) return "ROI \"" + name + "\"";
		Rectangle b = roi.getBounds();
		return "the unnamed " + roi.getTypeAsString().toLowerCase(Locale.ROOT) + " ROI at x=" + b.x + ", y=" + b.y;
	}

	/**
	 * A {@code class:NAME} ROI name, Python's rule (_CLASS_PREFIX in src/pixelforest/io/rois.py; change
	 * both together): "class" in any case, spaces around the colon, the name up to a #, ; or , .
	 */
	static final Pattern CLASS_NAME = Pattern.compile("^\\s*class\\s*:\\s*([^#;,]+?)\\s*(?:[#;,].*)?$",
		Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CHARACTER_CLASS);

	/** The class a ROI's name gives with {@code class:NAME} ({@link #CLASS_NAME}), or null. */
	static String className(String roiName) {
		if (roiName == null) return null;
		Matcher m = CLASS_NAME.matcher(roiName);
		return m.find() ? m.group(1).strip() : null;  // find() from ^: a final newline passes, as with Python's re.match
	}

	/**
	 * The class names a ROI name may start with when no classes are given, as in Python's
	 * assign_classes: ImageJ's group names and the {@code class:NAME} names of these ROIs.
	 */
	static List<String> knownClasses(List<Roi> rois) {
		List<String> known = new ArrayList<>(groupNames().values());
		for (Roi roi : rois) {
			String name = className(roi.getName());
			if (name != null) known.add(name);
		}
		return known;
	}

	/**
	 * Whether a ROI has a class by Python's rule (roi_class_name in io/rois.py): a group, a
	 * {@code class:NAME} name, a name that starts with one of {@code candidates} (any case), or a
	 * stroke colour of its own.
	 */
	static boolean hasClass(Roi roi, List<String> candidates) {
		if (roi.getGroup() > 0 || roi.getStrokeColor() != null) return true;
		String name = roi.getName();
		if (name == null || name.isEmpty()) return false;
		if (className(name) != null) return true;
		String low = name.toLowerCase(Locale.ROOT);
		for (String c : candidates) if (low.startsWith(c.toLowerCase(Locale.ROOT))) return true;
		return false;
	}

	/** A ROI as the worker takes it: its name, group, kind and stroke colour (null: none of its own). */
	static Map<String, Object> describe(Roi roi) {
		Map<String, Object> m = new HashMap<>();
		Color col = roi.getStrokeColor();
		m.put(Protocol.RoiKey.NAME, roi.getName() == null ? "" : roi.getName());
		m.put(Protocol.RoiKey.GROUP, roi.getGroup());
		m.put(Protocol.RoiKey.KIND, roi.getType() == Roi.POINT ? "point" : roi.isLine() ? "line" : "area");
		m.put(Protocol.RoiKey.COLOR, col == null ? null : Protocol.rgb(col));
		return m;
	}

	/** Receives the pixels (y * width + x) a ROI covers. */
	public interface PixelSink { void set(int pixel); }

	/**
	 * ImageJ's pixels of a ROI on a w x h canvas, handed to {@code sink}: masks for areas, lines as
	 * strokes of their width, points as points. Only the ROI's bounds clipped to the canvas are
	 * visited, so the cost follows the ROI, not the image. A line ImageJ cannot turn into an area
	 * (one of no length, or wholly above or left of the image) covers no pixel, as in Python.
	 */
	static void paint(Roi roi, int w, int h, PixelSink sink) {
		if (roi.getType() == Roi.POINT) {
			for (Point p : roi.getContainedPoints())
				if (p.x >= 0 && p.x < w && p.y >= 0 && p.y < h) sink.set(p.y * w + p.x);
			return;
		}
		Roi area = roi.isLine() ? Roi.convertLineToArea(roi) : roi;
		if (area == null) return;
		Rectangle b = area.getBounds();
		int x0 = Math.max(0, b.x), x1 = Math.min(w, b.x + b.width), y0 = Math.max(0, b.y), y1 = Math.min(h, b.y + b.height);
		if (x0 >= x1 || y0 >= y1) return;
		ImageProcessor mk = area.getMask();
		for (int yy = y0; yy < y1; yy++)
			for (int xx = x0; xx < x1; xx++)
				if (mk == null || mk.get(xx - b.x, yy - b.y) != 0) sink.set(yy * w + xx);
	}

	/** Whether a ROI covers any pixel of a w x h image ({@link #paint}). */
	static boolean coversAny(Roi roi, int w, int h) {
		boolean[] any = { false };
		paint(roi, w, h, p -> any[0] = true);
		return any[0];
	}

	/** Property set on overlay elements that are not labels (a prediction image, a "label here" mark). */
	public static final String NOT_A_LABEL = "pixelforest.mark";  // io/rois.py MARK_PROPERTY: change both

	/** Whether an overlay element is a label: not an image and not one of our marks. */
	static boolean isLabel(Roi roi) {
		return !(roi instanceof ImageRoi) && roi.getProperty(NOT_A_LABEL) == null;
	}

	/**
	 * Why a ROI cannot label a c x z x t image, in Python's words (_planes in io/rois.py): its
	 * position is past the image's slices or frames. Null when it can.
	 */
	static String misplaced(Roi roi, int c, int z, int t) {
		if (roi.hasHyperStackPosition()) {
			if (roi.getTPosition() > t) return named(roi) + " is on frame " + roi.getTPosition() + " but the image has " + t;
			if (roi.getZPosition() > z) return named(roi) + " is on slice " + roi.getZPosition() + " but the image has " + z;
		}
		else if (roi.getPosition() > c * z * t)
			return named(roi) + " is on slice " + roi.getPosition() + ", beyond the image's " + c * z * t + " slices";
		return null;
	}

	/** (t, z) planes a ROI labels: its hyperstack position, its stack slice, or all; refused past the image ({@link #misplaced}). */
	static List<int[]> planes(Roi roi, int c, int z, int t) {
		String why = misplaced(roi, c, z, t);
		if (why != null) throw new IllegalArgumentException(why);
		List<int[]> out = new ArrayList<>();
		int zs = -1, ts = -1;
		if (roi.hasHyperStackPosition()) {
			zs = roi.getZPosition() - 1;
			ts = roi.getTPosition() - 1;
		}
		else if (roi.getPosition() > 0) {
			int idx = roi.getPosition() - 1;
			zs = (idx / c) % z;
			ts = idx / (c * z);
		}
		for (int ti = 0; ti < t; ti++) for (int zi = 0; zi < z; zi++)
			if ((ts < 0 || ts == ti) && (zs < 0 || zs == zi)) out.add(new int[] { ti, zi });
		return out;
	}

	/** ImageJ's group names: {"1": "name", ...} (groups without a name left out). */
	static Map<String, String> groupNames() {
		String names = Roi.getGroupNames();
		Map<String, String> out = new HashMap<>();
		if (names != null) {
			String[] parts = names.split(",");
			for (int i = 0; i < parts.length; i++) if (!parts[i].trim().isEmpty()) out.put(String.valueOf(i + 1), parts[i].trim());
		}
		return out;
	}
}
