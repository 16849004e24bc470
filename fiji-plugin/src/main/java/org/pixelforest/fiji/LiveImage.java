package org.pixelforest.fiji;

import ij.IJ;
import ij.ImagePlus;
import ij.gui.ImageCanvas;
import ij.gui.Overlay;
import ij.gui.Roi;
import ij.gui.ShapeRoi;
import ij.plugin.filter.ThresholdToSelection;
import ij.process.ByteProcessor;

import java.awt.Color;
import java.awt.Rectangle;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One image of a live session: the ImagePlus, its label ROIs (ordinary ImageJ ROIs whose group
 * is the class), the "label here" marks, its prediction cache, and how they are drawn in its
 * overlay. Labels change on the event thread; rounds read snapshots of them on their own thread.
 */
final class LiveImage {

	/** Sparse labels of an image: flat indices into (T, Z, Y, X) and class values, and the classes present. */
	static final class Labels {
		final long[] index;
		final byte[] value;
		final boolean[] present;  // present[k]: class k + 1 has pixels

		Labels(long[] index, byte[] value, boolean[] present) {
			this.index = index;
			this.value = value;
			this.present = present;
		}

		int count() { return index.length; }
	}

	/** What the canvas shows: one plane, a rectangle of the image, and the stride that is enough at this zoom. */
	static final class View {
		final int t, z, stride;
		final Rectangle rect;

		View(int t, int z, Rectangle rect, int stride) {
			this.t = t;
			this.z = z;
			this.rect = rect;
			this.stride = stride;
		}

		boolean samePlane(View o) { return o != null && o.t == t && o.z == z; }

		/** The same view sampled more coarsely (stride doubled) until it has at most {@code pixels} samples. */
		View coarse(int pixels) {
			int s = stride;
			while (s < PredictionCache.TILE && (long) ((rect.width + s - 1) / s) * ((rect.height + s - 1) / s) > pixels) s *= 2;
			return s == stride ? this : new View(t, z, rect, s);
		}

		@Override
		public boolean equals(Object o) {
			return o instanceof View && samePlane((View) o) && ((View) o).stride == stride && ((View) o).rect.equals(rect);
		}

		@Override
		public int hashCode() { return (t * 31 + z) * 31 + rect.hashCode() + stride; }
	}

	final ImagePlus imp;
	final String id;
	final PredictionCache cache;
	private final List<Roi> labels = new ArrayList<>();
	private final List<Roi> marks = new ArrayList<>();
	private final List<Roi> foreign = new ArrayList<>();  // the image's own overlay elements, kept as they were
	/** Each label ROI's pixels (by identity: ROIs that are equal by ImageJ's rule may differ), rounds only. */
	private java.util.Map<Roi, int[]> rasters = new java.util.IdentityHashMap<>();
	/** Labels version last sent to the worker (-1: never). */
	volatile int sentVersion = -1;
	volatile int version;

	LiveImage(ImagePlus imp) {
		this.imp = imp;
		this.id = "imp" + imp.getID();
		this.cache = new PredictionCache(imp.getWidth(), imp.getHeight());
	}

	/**
	 * Takes the image's overlay: ROIs that carry a class (a group) become labels, so a session
	 * ended earlier (its labels left in the overlay) resumes; everything else is kept as it is.
	 * A ROI positioned past the image's slices or frames (Train Classifier refuses it) stays in
	 * the overlay, not a label, and the Log says so. Returns the groups found, in order.
	 */
	List<Integer> adoptOverlay() {
		List<Integer> groups = new ArrayList<>();
		Overlay ov = imp.getOverlay();
		if (ov == null) return groups;
		for (Roi roi : ov.toArray()) {
			if (roi.getProperty(RoiIndex.NOT_A_LABEL) != null) continue;  // an earlier session's prediction or marks
			String misplaced = RoiIndex.misplaced(roi, imp.getNChannels(), imp.getNSlices(), imp.getNFrames());
			if (misplaced != null && RoiIndex.isLabel(roi) && roi.getGroup() > 0) {
				IJ.log("Pixel Forest live training: " + imp.getTitle() + ": " + misplaced + ": left in the overlay, not a label.");
				foreign.add(roi);
			}
			else if (RoiIndex.isLabel(roi) && roi.getGroup() > 0) {
				labels.add(roi);
				if (!groups.contains(roi.getGroup())) groups.add(roi.getGroup());
			}
			else foreign.add(roi);
		}
		return groups;
	}

	// -- labels (event thread) ------------------------------------------------------------------

	/** Adds a copy of a finished selection as a label of class {@code cls} (0-based) at the current plane. */
	synchronized Roi addLabel(Roi selection, int cls, LabelClass lc) {
		Roi roi = (Roi) selection.clone();
		roi.setImage(null);
		style(roi, cls, lc);
		int[] pos = position();
		placeOnPlane(roi, pos[0], pos[1]);
		labels.add(roi);
		version++;
		return roi;
	}

	/** Removes the labels under an eraser selection (on the current plane); true when any changed. */
	synchronized boolean erase(Roi eraser) {
		Roi eraserArea = eraser.isLine() ? Roi.convertLineToArea(eraser) : eraser;
		if (eraserArea == null) return false;  // a line of no length (or off the image) erases nothing
		ShapeRoi cut = new ShapeRoi(eraserArea);
		int[] pos = position();
		boolean changed = false;
		for (int i = 0; i < labels.size(); i++) {
			Roi roi = labels.get(i);
			if (!onPlane(roi, pos[0], pos[1]) || !roi.getBounds().intersects(cut.getBounds())) continue;
			Roi area = roi.isLine() ? Roi.convertLineToArea(roi) : roi;
			if (area == null) continue;
			ShapeRoi rest = new ShapeRoi(area).not((ShapeRoi) cut.clone());
			Roi[] parts = rest.getRois();
			boolean empty = rest.getBounds().isEmpty() || parts.length == 0;
			if (empty) {
				labels.remove(i--);
			}
			else {
				Roi kept = parts.length == 1 ? parts[0] : rest;
				copyStyle(roi, kept);
				labels.set(i, kept);
			}
			changed = true;
		}
		if (changed) version++;
		return changed;
	}

	/** Class {@code cls} (0-based) gets a new name or colour: its ROIs follow. */
	synchronized void restyle(int cls, LabelClass lc) {
		for (Roi roi : labels) if (roi.getGroup() == cls + 1) style(roi, cls, lc);
	}

	/** Class {@code cls} (0-based) is deleted: its ROIs go, later classes move down one group. */
	synchronized void deleteClass(int cls, List<LabelClass> remaining) {
		labels.removeIf(r -> r.getGroup() == cls + 1);
		for (Roi roi : labels) if (roi.getGroup() > cls + 1) style(roi, roi.getGroup() - 2, remaining.get(roi.getGroup() - 2));
		version++;
	}

	/** Replaces every label by per-plane areas of the given sparse labels (a resumed classifier's). */
	synchronized void setLabels(long[] index, byte[] value, List<LabelClass> classes) {
		labels.clear();
		int w = imp.getWidth(), h = imp.getHeight(), z = imp.getNSlices();
		long plane = (long) w * h;
		int start = 0;
		while (start < index.length) {
			long p = index[start] / plane;
			int end = start;
			while (end < index.length && index[end] / plane == p) end++;
			for (int k = 0; k < classes.size(); k++) {
				ByteProcessor mask = new ByteProcessor(w, h);
				boolean any = false;
				for (int i = start; i < end; i++) if ((value[i] & 0xff) == k + 1) { mask.set((int) (index[i] % plane), 255); any = true; }
				if (!any) continue;
				mask.setThreshold(255, 255, ByteProcessor.NO_LUT_UPDATE);
				Roi roi = new ThresholdToSelection().convert(mask);
				style(roi, k, classes.get(k));
				placeOnPlane(roi, (int) (p / z), (int) (p % z));
				labels.add(roi);
			}
			start = end;
		}
		version++;
	}

	synchronized int labelCount() { return labels.size(); }

	synchronized List<Roi> labelRois() { return new ArrayList<>(labels); }

	synchronized void setMarks(List<Roi> rois) {
		marks.clear();
		marks.addAll(rois);
	}

	synchronized List<Roi> marks() { return new ArrayList<>(marks); }

	static void style(Roi roi, int cls, LabelClass lc) {
		roi.setGroup(cls + 1);
		roi.setName("class:" + lc.name);
		roi.setStrokeColor(lc.color);
		if (!roi.isLine() && roi.getType() != Roi.POINT)
			roi.setFillColor(new Color(lc.color.getRed(), lc.color.getGreen(), lc.color.getBlue(), 110));
	}

	static void copyStyle(Roi from, Roi to) {
		to.setGroup(from.getGroup());
		to.setName(from.getName());
		to.setStrokeColor(from.getStrokeColor());
		Color c = from.getStrokeColor();
		if (c != null) to.setFillColor(new Color(c.getRed(), c.getGreen(), c.getBlue(), 110));
		if (from.hasHyperStackPosition()) to.setPosition(0, from.getZPosition(), from.getTPosition());
		else to.setPosition(from.getPosition());
	}

	/**
	 * Puts a ROI on plane (t, z) (0-based): no position on a single plane (so it labels every
	 * channel), a hyperstack position (every channel) or a stack slice otherwise.
	 */
	void placeOnPlane(Roi roi, int t, int z) {
		if (imp.getNSlices() * imp.getNFrames() == 1) roi.setPosition(0);
		else if (imp.isHyperStack() || imp.getNChannels() > 1) roi.setPosition(0, z + 1, t + 1);
		else roi.setPosition(imp.getStackIndex(1, z + 1, t + 1));
	}

	boolean onPlane(Roi roi, int t, int z) {
		if (RoiIndex.misplaced(roi, imp.getNChannels(), imp.getNSlices(), imp.getNFrames()) != null) return false;  // on none of its planes
		for (int[] tz : RoiIndex.planes(roi, imp.getNChannels(), imp.getNSlices(), imp.getNFrames()))
			if (tz[0] == t && tz[1] == z) return true;
		return false;
	}

	/**
	 * The labels as ImageJ rasterises them (the same pixels Train Classifier takes from these ROIs:
	 * a later ROI wins where two overlap), as sparse indices. Runs on a snapshot, off the event thread.
	 */
	Labels rasterize(int nClasses) {
		List<Roi> rois = labelRois();
		int w = imp.getWidth(), h = imp.getHeight(), c = imp.getNChannels(), z = imp.getNSlices(), t = imp.getNFrames();
		byte[][] planes = new byte[t * z][];
		java.util.Map<Roi, int[]> known = rasters, now = new java.util.IdentityHashMap<>();
		for (Roi roi : rois) {
			int[] pixels = pixels(known, roi, w, h);
			now.put(roi, pixels);
			int g = roi.getGroup();
			if (g < 1 || g > nClasses) continue;
			for (int[] tz : RoiIndex.planes(roi, c, z, t)) {
				int pi = tz[0] * z + tz[1];
				if (planes[pi] == null) planes[pi] = new byte[w * h];
				byte[] pl = planes[pi];
				for (int px : pixels) pl[px] = (byte) g;
			}
		}
		rasters = now;  // the ROIs gone (erased, deleted) leave the cache
		int n = 0;
		for (byte[] pl : planes) if (pl != null) for (byte b : pl) if (b != 0) n++;
		long[] index = new long[n];
		byte[] value = new byte[n];
		boolean[] present = new boolean[nClasses];
		int k = 0;
		for (int pi = 0; pi < planes.length; pi++) {
			byte[] pl = planes[pi];
			if (pl == null) continue;
			long base = (long) pi * w * h;
			for (int p = 0; p < pl.length; p++) {
				if (pl[p] == 0) continue;
				index[k] = base + p;
				value[k++] = pl[p];
				present[(pl[p] & 0xff) - 1] = true;
			}
		}
		return new Labels(index, value, present);
	}

	/**
	 * A ROI's pixels as ImageJ rasterises it, computed once per ROI: labels never change in place
	 * (an eraser replaces them), and rasterising every stroke again made each round cost about
	 * 4 ms more per stroke.
	 */
	private static int[] pixels(java.util.Map<Roi, int[]> known, Roi roi, int w, int h) {
		int[] px = known.get(roi);
		if (px == null) {
			java.util.ArrayList<Integer> list = new java.util.ArrayList<>();
			RoiIndex.paint(roi, w, h, list::add);
			px = list.stream().mapToInt(Integer::intValue).toArray();
		}
		return px;
	}

	// -- what is shown ----------------------------------------------------------------------------

	/** The current (t, z), 0-based. */
	int[] position() {
		int[] p = imp.convertIndexToPosition(Math.max(1, imp.getCurrentSlice()));
		return new int[] { p[2] - 1, p[1] - 1 };
	}

	/** What the canvas shows now (the whole plane when the image has no window). */
	View view() {
		int[] pos = position();
		ImageCanvas canvas = imp.getCanvas();
		Rectangle rect = new Rectangle(0, 0, imp.getWidth(), imp.getHeight());
		int stride = 1;
		if (canvas != null) {
			rect = canvas.getSrcRect().intersection(rect);
			double mag = canvas.getMagnification();
			while (mag > 0 && stride * 2 * mag <= 1.0 + 1e-9 && stride < PredictionCache.TILE) stride *= 2;
		}
		int x0 = rect.x / PredictionCache.TILE * PredictionCache.TILE, y0 = rect.y / PredictionCache.TILE * PredictionCache.TILE;
		int x1 = Math.min(imp.getWidth(), ceilTile(rect.x + rect.width)), y1 = Math.min(imp.getHeight(), ceilTile(rect.y + rect.height));
		return new View(pos[0], pos[1], new Rectangle(x0, y0, x1 - x0, y1 - y0), stride);
	}

	private static int ceilTile(int v) { return (v + PredictionCache.TILE - 1) / PredictionCache.TILE * PredictionCache.TILE; }

	/**
	 * The overlay (event thread): the image's own elements, the current plane's prediction (when
	 * shown), the labels (when shown) and the marks.
	 */
	void updateOverlay(boolean showPrediction, boolean showLabels, double opacity) {
		Overlay ov = new Overlay();
		int[] pos = position();
		PredictionCache.Plane plane = cache.get(pos[0], pos[1]);
		if (showPrediction && plane != null) {
			plane.roi.setOpacity(opacity);
			placeOnPlane(plane.roi, plane.t, plane.z);
			ov.add(plane.roi);
		}
		synchronized (this) {
			for (Roi r : foreign) ov.add(r);
			if (showLabels) for (Roi r : labels) ov.add(r);
			for (Roi r : marks) ov.add(r);
		}
		ov.drawLabels(false);
		ov.selectable(false);
		imp.setOverlay(ov);
	}

	/** What is left in the overlay when the session ends: the image's own elements and the labels. */
	synchronized void leaveLabels() {
		Overlay ov = new Overlay();
		for (Roi r : foreign) ov.add(r);
		for (Roi r : labels) ov.add(r);
		imp.setOverlay(ov.size() == 0 ? null : ov);
	}

	static int[] rgb(List<LabelClass> classes) {
		int[] out = new int[classes.size()];
		for (int i = 0; i < out.length; i++) out[i] = classes.get(i).color.getRGB() & 0xffffff;
		return out;
	}

	@Override
	public String toString() { return imp.getTitle() + Arrays.toString(position()); }
}
