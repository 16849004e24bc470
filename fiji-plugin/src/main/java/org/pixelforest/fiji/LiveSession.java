package org.pixelforest.fiji;

import ij.IJ;
import ij.ImageListener;
import ij.ImagePlus;
import ij.Prefs;
import ij.WindowManager;
import ij.gui.ImageCanvas;
import ij.gui.ImageWindow;
import ij.gui.Roi;
import ij.gui.RoiListener;
import ij.gui.TextRoi;
import ij.io.FileInfo;
import ij.plugin.frame.Recorder;
import org.apposed.appose.NDArray;

import javax.swing.SwingUtilities;
import javax.swing.Timer;
import java.awt.Color;
import java.awt.KeyEventDispatcher;
import java.awt.KeyboardFocusManager;
import java.awt.Rectangle;
import java.awt.Window;
import java.awt.event.KeyEvent;
import java.awt.event.MouseAdapter;
import java.awt.event.MouseEvent;
import java.io.File;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.pixelforest.fiji.Protocol.Key;
import org.pixelforest.fiji.Protocol.Out;

/**
 * A live training session: classes, the images being labelled, and the rounds that follow the
 * brush. Label changes (event thread) bump a version and wake the round thread; a round sends the
 * labels, retrains in the worker and predicts what the canvas shows, then swaps the overlay in.
 * Changes during a round start exactly one more round after it, and cancel the stale round's
 * prediction. Slice, pan and zoom changes predict only what became visible, and keep what was
 * predicted until the next retrain. The event thread never waits for the worker.
 */
public final class LiveSession {

	private static final List<LiveSession> SESSIONS = new CopyOnWriteArrayList<>();
	/**
	 * A round first predicts the view every few pixels, at most this many, and shows it; the view at
	 * the canvas's resolution follows (a new round cancels it). Feedback within a round's training
	 * plus about 0.1 s, whatever the zoom.
	 */
	static final int COARSE_PIXELS = 1 << 17;
	static final boolean DEBUG = Boolean.getBoolean("pixelforest.debug");
	private static final AtomicInteger COUNTER = new AtomicInteger();

	final String id = "live" + COUNTER.incrementAndGet() + "-" + Long.toHexString(System.nanoTime());
	final List<LabelClass> classes = new CopyOnWriteArrayList<>();
	final List<LiveImage> images = new CopyOnWriteArrayList<>();
	LivePanel panel;

	// settings (event thread writes, others read)
	volatile int active;
	volatile boolean eraser, autoAdd = true, live = true, showLabels = true;
	volatile PredictionCache.Mode mode = PredictionCache.Mode.PROBABILITIES;
	volatile double opacity = 0.5;
	volatile Object features = Options.DEFAULT_FEATURES;
	final int trees = 100, seed = 0;

	// rounds
	private final Object lock = new Object();
	private boolean roundPending, viewPending, ready, closed, running;
	private final AtomicInteger labelsVersion = new AtomicInteger();
	private volatile int trainedVersion;  // the worker's classifier version (0: none yet)
	private volatile int workerGeneration;  // the worker that holds this session's images
	private int restarts;  // workers started again for this session since its last good round
	private final List<String> removed = new CopyOnWriteArrayList<>();  // images closed, to leave out in the worker
	private Thread thread;
	private final ExecutorService actions = Executors.newSingleThreadExecutor(r -> {
		Thread t = new Thread(r, "pixelforest-live-actions");
		t.setDaemon(true);
		return t;
	});

	// what tests and the benchmark read
	final AtomicInteger roundsStarted = new AtomicInteger(), roundsDone = new AtomicInteger(), roundsCancelled = new AtomicInteger();
	volatile long lastRoundMs;
	/** When (ms) the labels last changed, the last round started, its worker call returned, its overlay was handed to the event thread. */
	final long[] lastTimes = new long[4];
	volatile String status = "";
	private volatile String roundStatus = "";
	private volatile long readyTime;  // what the last round said, shown again after a view is predicted
	volatile String savedPath;
	private volatile int savedAt = -1;  // labels version of the last save
	volatile List<double[]> suggestions = new ArrayList<>();  // {t, z, x, y, w, h, uncertainty}

	private final Map<LiveImage, Object[]> listeners = new HashMap<>();
	private Timer viewTimer;
	private final Map<LiveImage, LiveImage.View> lastView = new HashMap<>();
	private final Map<LiveImage, Double> lastMag = new HashMap<>();
	private KeyEventDispatcher keys;
	private RoiListener roiListener;
	private ImageListener imageListener;

	private LiveSession() {
		for (int i = 0; i < 2; i++) classes.add(new LabelClass("Label " + (i + 1), LabelClass.defaultColor(i)));
	}

	/** The session bound to an image (null: none). */
	public static LiveSession forImage(ImagePlus imp) {
		for (LiveSession s : SESSIONS) for (LiveImage li : s.images) if (li.imp == imp) return s;
		return null;
	}

	/** Every open session (tests, the benchmark). */
	public static List<LiveSession> sessions() { return new ArrayList<>(SESSIONS); }

	/** Opens a session on an image and shows its panel (call on any thread but the event thread's work stays short). */
	static LiveSession open(ImagePlus imp) {
		LiveSession s = new LiveSession();
		SESSIONS.add(s);
		LiveImage li = new LiveImage(imp);
		s.adopt(li);
		s.images.add(li);
		s.thread = new Thread(() -> s.run(li), "pixelforest-live-rounds");
		s.thread.setDaemon(true);
		s.thread.start();
		SwingUtilities.invokeLater(() -> {
			s.panel = new LivePanel(s);
			s.install(li);
			s.installGlobalListeners();
			s.panel.setVisible(true);
			s.refresh(li);
		});
		return s;
	}

	/** Labels left in an image's overlay by an earlier session become this session's, with their classes. */
	private void adopt(LiveImage li) {
		List<Integer> groups = li.adoptOverlay();
		int max = 0;
		for (int g : groups) max = Math.max(max, g);
		while (classes.size() < max) classes.add(new LabelClass("Label " + (classes.size() + 1), LabelClass.defaultColor(classes.size())));
		for (Roi roi : li.labelRois()) {
			LabelClass lc = classes.get(roi.getGroup() - 1);
			// the ROI's own class name first (class:NAME, read as Train Classifier and Python read it): group
			// names are ImageJ-wide, another panel may have renamed them
			String own = RoiIndex.className(roi.getName());
			String name = own != null ? own : Roi.getGroupName(roi.getGroup());
			if (name != null && !name.trim().isEmpty() && !name.contains(",")) lc.name = name.trim();
			if (roi.getStrokeColor() != null) lc.color = new Color(roi.getStrokeColor().getRGB() & 0xffffff);
		}
		syncGroupNames();
		if (!groups.isEmpty()) labelsVersion.incrementAndGet();
		synchronized (lock) { roundPending = !groups.isEmpty(); }
	}

	// -- the round thread -------------------------------------------------------------------------

	private void run(LiveImage first) {
		Thread.currentThread().setContextClassLoader(LiveSession.class.getClassLoader());
		try {
			openInWorker(first);
			readyTime = System.currentTimeMillis();
			synchronized (lock) { ready = true; lock.notifyAll(); }
		}
		catch (Exception e) {
			error("could not start: " + e.getMessage());
			return;
		}
		while (true) {
			boolean doRound, doView;
			try {
				synchronized (lock) {
					while (!closed && !(roundPending && live) && !viewPending) lock.wait();
					if (closed) break;
					doRound = roundPending && live;
					if (doRound) roundPending = false;
					doView = !doRound && viewPending;
					if (doView) viewPending = false;
					running = true;
				}
				forgetRemoved();
				if (doRound || doView) ensureWorker();
				if (doRound) round();
				else if (doView) predictView();
			}
			catch (InterruptedException e) {
				break;
			}
			catch (PythonService.CancelledException e) {
				roundsCancelled.incrementAndGet();
				if (!closed && !isStale()) setStatus("Cancelled.");
			}
			catch (PythonService.PixelForestException e) {
				if (closed) continue;
				if (workerGeneration != PythonService.generation() || !PythonService.isRunning()) {
					// the worker stopped (killed, out of memory): the next round starts one and opens the images again
					error(e.getMessage().split("\n")[0] + (restarts < MAX_RESTARTS ? " Starting it again..." : ""));
					if (restarts < MAX_RESTARTS) synchronized (lock) { roundPending = true; }
				}
				else error(e.getMessage());
			}
			catch (Throwable e) {
				if (!closed) {
					IJ.log("Pixel Forest live training: " + e);
					error(e.getClass().getSimpleName() + ": " + e.getMessage());
				}
			}
			finally {
				synchronized (lock) { running = false; lock.notifyAll(); }
			}
		}
		try { PythonService.call(Protocol.LIVE_CLOSE, map(Key.SESSION, id), null, "ending live training"); }
		catch (Exception ignored) { }  // a dead worker holds no session either
	}

	private boolean isStale() { synchronized (lock) { return roundPending; } }

	private static final int MAX_RESTARTS = 2;

	/**
	 * When the worker this session's images were opened in has stopped, a new one computes their
	 * features again and the labels are sent again (they live here, as ROIs): nothing is lost.
	 */
	private void ensureWorker() throws Exception {
		if (workerGeneration == PythonService.generation() && PythonService.isRunning()) return;
		if (restarts >= MAX_RESTARTS)
			throw new PythonService.PixelForestException("The Python worker stopped " + (restarts + 1) + " times: save your labels (Plugins > Pixel Forest > Options... shows the Python in use) and open the panel again.");
		restarts++;
		trainedVersion = 0;
		for (LiveImage li : images) {
			li.sentVersion = -1;
			li.cache.clear();
			openInWorker(li);
		}
		synchronized (lock) { roundPending = true; }
	}

	/** Images whose windows were closed leave the worker (their labels stop training) before the next round. */
	private void forgetRemoved() throws Exception {
		for (String image : removed) {
			removed.remove(image);
			if (workerGeneration != PythonService.generation()) continue;  // a new worker never had it
			Map<String, Object> p = map(Key.SESSION, id);
			p.put(Key.IMAGE, image);
			try {
				PythonService.call(Protocol.LIVE_REMOVE, p, null, "leaving out a closed image");
			}
			catch (PythonService.PixelForestException e) {
				if (workerGeneration != PythonService.generation() || !PythonService.isRunning()) throw e;
				IJ.log("Pixel Forest live training: a closed image could not be left out (" + e.getMessage() + ")");
			}
		}
	}

	private void openInWorker(LiveImage li) throws Exception {
		setStatus("Computing features of " + li.imp.getTitle() + "...");
		NDArray img = ImageBridge.toNDArray(li.imp);
		try {
			Map<String, Object> p = map(Key.SESSION, id);
			p.put(Key.IMAGE, li.id);
			p.put(Key.TITLE, li.imp.getTitle());
			p.put(Key.FEATURES, features);
			p.put(Key.TREES, trees);
			p.put(Key.SEED, seed);
			Map<String, Object> out = PythonService.call(Protocol.LIVE_OPEN, p, img, "computing features of " + li.imp.getTitle(), () -> closed);
			workerGeneration = PythonService.generation();
			if (out.get(Out.SPEC) instanceof Map) features = out.get(Out.SPEC);
			int adopted = li.labelCount();
			String note = out.get(Out.NOTE) == null ? "" : String.valueOf(out.get(Out.NOTE));
			if (!note.isEmpty()) IJ.log("Pixel Forest live training: " + li.imp.getTitle() + ": " + note + ".");
			if (restarts > 0) setStatus("The Python worker was started again; " + li.imp.getTitle() + " is ready.");
			else setStatus(images.size() > 1 ? "Added " + li.imp.getTitle() + "."
				: (adopted > 0 ? "Ready: " + adopted + " label(s) taken from the overlay." : "Ready: paint strokes of at least two classes.")
					+ (note.isEmpty() ? "" : " (Features: " + note + ".)"));
		}
		finally {
			img.close();
		}
	}

	private LiveImage activeImage() {
		ImagePlus cur = WindowManager.getCurrentImage();
		for (LiveImage li : images) if (li.imp == cur) return li;
		return images.isEmpty() ? null : images.get(0);
	}

	private BooleanSupplier staleRound(int v) {
		return () -> closed || !live || labelsVersion.get() != v;
	}

	private void round() throws Exception {
		LiveImage li = activeImage();
		if (li == null) return;
		int v = labelsVersion.get();
		int nClasses = classes.size();
		boolean[] present = new boolean[nClasses];
		LiveImage.Labels mine = null;
		long total = 0;
		for (LiveImage o : images) {
			int ov = o.version;
			LiveImage.Labels labels = o.rasterize(nClasses);
			total += labels.count();
			for (int k = 0; k < nClasses; k++) present[k] |= labels.present[k];
			if (o == li) mine = labels;
			else if (o.sentVersion != ov) {
				sendLabels(o, labels, Protocol.LIVE_LABELS, null, staleRound(v));
				o.sentVersion = ov;
			}
		}
		int have = 0;
		for (boolean b : present) if (b) have++;
		if (have < 2) {
			setStatus(have == 0 ? "Paint strokes of at least two classes." : "Now paint a stroke of another class.");
			return;
		}
		roundsStarted.incrementAndGet();
		LiveImage.View full = li.view();
		LiveImage.View view = full.coarse(COARSE_PIXELS);
		if (DEBUG) System.err.println(System.currentTimeMillis() % 100000 + " Pixel Forest live: round " + (roundsStarted.get()) + ", view " + full.rect + " at stride " + full.stride + ", first at " + view.stride);
		long t0 = System.currentTimeMillis();
		lastTimes[1] = t0;
		setBusy(String.format("Training on %,d labelled pixels...", total));
		Map<String, Object> out = sendLabels(li, mine, Protocol.LIVE_TRAIN, view, staleRound(v));
		lastTimes[2] = System.currentTimeMillis();
		li.sentVersion = li.version;
		trainedVersion = ((Number) out.get(Out.VERSION)).intValue();
		li.cache.keepOnly(view.t, view.z);
		for (LiveImage o : images) if (o != li) o.cache.clear();
		show(li, view, out);
		lastRoundMs = System.currentTimeMillis() - t0;
		roundsDone.incrementAndGet();
		restarts = 0;
		// then the view at the canvas's resolution, and the other images' views
		if (view.stride > full.stride || images.size() > 1) viewChanged();
		Number oob = (Number) out.get(Out.OOB_ERROR);
		roundStatus = String.format("Round %d: %,d labelled pixels%s, %d ms%s.", roundsDone.get(), total,
			images.size() > 1 ? " in " + images.size() + " images" : "", lastRoundMs,
			oob != null ? String.format(", out-of-bag error %.3f", oob.doubleValue()) : "");
		setStatus(roundStatus);
	}

	private Map<String, Object> sendLabels(LiveImage li, LiveImage.Labels labels, String request, LiveImage.View view,
		BooleanSupplier cancel) throws Exception
	{
		NDArray index = new NDArray(NDArray.DType.INT64, new NDArray.Shape(NDArray.Shape.Order.C_ORDER, labels.count()));
		NDArray value = new NDArray(NDArray.DType.UINT8, new NDArray.Shape(NDArray.Shape.Order.C_ORDER, labels.count()));
		try {
			ImageBridge.buffer(index).asLongBuffer().put(labels.index);
			ImageBridge.buffer(value).put(labels.value);
			Map<String, Object> p = map(Key.SESSION, id);
			p.put(Key.IMAGE, li.id);
			p.put(Key.INDEX, index);
			p.put(Key.VALUE, value);
			putClasses(p);
			if (view != null) putView(p, view);
			return PythonService.call(request, p, null, "training", cancel);
		}
		finally {
			index.close();
			value.close();
		}
	}

	/** The classes' names and colours, as the worker takes them. */
	private void putClasses(Map<String, Object> p) {
		List<String> names = new ArrayList<>();
		List<List<Integer>> colors = new ArrayList<>();
		for (LabelClass c : classes) {
			names.add(c.name);
			colors.add(Protocol.rgb(c.color));
		}
		p.put(Key.CLASSES, names);
		p.put(Key.COLORS, colors);
	}

	private static void putView(Map<String, Object> p, LiveImage.View view) {
		p.put(Key.T, view.t);
		p.put(Key.Z, view.z);
		p.put(Key.REGION, Arrays.asList(view.rect.y, view.rect.y + view.rect.height, view.rect.x, view.rect.x + view.rect.width));
		p.put(Key.STRIDE, view.stride);
	}

	/**
	 * Predicts what became visible (a slice change, panning, zooming, a new classifier) with the
	 * current classifier: the active image first, then the other images' windows.
	 */
	private void predictView() throws Exception {
		LiveImage active = activeImage();
		if (active == null || trainedVersion == 0) return;
		List<LiveImage> order = new ArrayList<>();
		order.add(active);
		for (LiveImage o : images) if (o != active && o.imp.getWindow() != null && o.imp.getWindow().isVisible()) order.add(o);
		for (LiveImage li : order) {
			if (closed || isStale()) return;
			predictView(li);
		}
	}

	private void predictView(LiveImage li) throws Exception {
		LiveImage.View view = li.view();
		Rectangle missing = li.cache.missing(view.t, view.z, view.rect, view.stride, trainedVersion);
		if (missing == null) {
			SwingUtilities.invokeLater(() -> refresh(li));
			return;
		}
		LiveImage.View need = new LiveImage.View(view.t, view.z, missing, view.stride);
		if (DEBUG) System.err.println(System.currentTimeMillis() % 100000 + " Pixel Forest live: predicting " + need.rect + " at stride " + need.stride);
		Map<String, Object> p = map(Key.SESSION, id);
		p.put(Key.IMAGE, li.id);
		putView(p, need);
		setBusy("Predicting " + (li.imp.getStackSize() > 1 ? "this slice" : "the view") + "...");
		BooleanSupplier gone = () -> closed || isStale() || !li.view().samePlane(need);
		Map<String, Object> out = PythonService.call(Protocol.LIVE_PREDICT, p, null, "predicting", gone);
		show(li, need, out);
		if (DEBUG) System.err.println(System.currentTimeMillis() % 100000 + " Pixel Forest live: shown " + need.rect + " at stride " + need.stride);
		setStatus(roundStatus);
	}

	/** Stores a prediction in the cache, renders it and swaps it into the overlay. */
	private void show(LiveImage li, LiveImage.View view, Map<String, Object> out) {
		NDArray nd = (NDArray) out.get(Out.PREDICTION);
		if (nd == null) return;
		try {
			int[] s = nd.shape().toIntArray(NDArray.Shape.Order.C_ORDER);
			byte[] data = new byte[s[0] * s[1] * s[2]];
			ByteBuffer buf = ImageBridge.buffer(nd);
			buf.get(data);
			int version = ((Number) out.get(Out.VERSION)).intValue();
			if (version > trainedVersion) trainedVersion = version;  // a round cancelled after training still trained
			PredictionCache.Plane plane = li.cache.put(view.t, view.z, view.rect, view.stride, data, s[0] - 1, s[1], s[2], version);
			li.cache.render(plane, view.rect, mode, LiveImage.rgb(classes));
			rescale(li, plane);
		}
		finally {
			nd.close();
		}
		lastTimes[3] = System.currentTimeMillis();
		SwingUtilities.invokeLater(() -> refresh(li));
	}

	// -- events (event thread) ----------------------------------------------------------------------

	/** Labels changed: one more round (coalesced with any others before it starts). */
	void labelsChanged() {
		lastTimes[0] = System.currentTimeMillis();
		labelsVersion.incrementAndGet();
		synchronized (lock) { roundPending = true; lock.notifyAll(); }
		if (panel != null) panel.classesChanged();
	}

	void viewChanged() {
		synchronized (lock) { viewPending = true; lock.notifyAll(); }
	}

	void setLive(boolean on) {
		live = on;
		synchronized (lock) { lock.notifyAll(); }
		if (on && labelsVersion.get() > 0) labelsChanged();
		if (!on) setStatus("Live update is off: labels are kept; switch it on to train.");
	}

	/** Redraws an image's overlay from the cache (event thread). */
	void refresh(LiveImage li) {
		if (closed) return;
		li.updateOverlay(true, showLabels, opacity);
	}

	void refreshAll() { for (LiveImage li : images) refresh(li); }

	/** A new mode or new colours: re-render the cached planes (off the event thread), then redraw. */
	void rerender() {
		actions.submit(() -> {
			for (LiveImage li : images) {
				int[] pos = li.position();
				PredictionCache.Plane p = li.cache.get(pos[0], pos[1]);
				if (p != null) {
					li.cache.render(p, null, mode, LiveImage.rgb(classes));
					rescale(li, p);
				}
			}
			SwingUtilities.invokeLater(this::refreshAll);
		});
	}

	/** A selection was finished on a bound image: it becomes a label of the active class (or erases). */
	void selectionFinished(LiveImage li, boolean explicit) { selectionFinished(li, explicit, active, eraser); }

	/**
	 * As above, with the class (or the eraser) chosen when the mouse was released: a key pressed
	 * right after a stroke chooses the class of the next one.
	 */
	void selectionFinished(LiveImage li, boolean explicit, int cls, boolean erasing) {
		Roi roi = li.imp.getRoi();
		if (roi == null || roi.getState() == Roi.CONSTRUCTING || roi instanceof TextRoi || (!autoAdd && !explicit)) return;
		if (roi.getProperty(RoiIndex.NOT_A_LABEL) != null) return;
		if (erasing) {
			if (!li.erase(roi)) { li.imp.deleteRoi(); return; }
		}
		else {
			if (cls >= classes.size()) return;  // the class was deleted meanwhile
			if (!RoiIndex.coversAny(roi, li.imp.getWidth(), li.imp.getHeight())) {
				// a line of no length or a stroke off the image: it would label nothing (Train Classifier leaves such ROIs out too)
				li.imp.deleteRoi();
				setStatus("That stroke covers no pixel of the image: not added.");
				return;
			}
			li.addLabel(roi, cls, classes.get(cls));
		}
		li.imp.deleteRoi();
		li.setMarks(new ArrayList<>());  // the marks pointed at places that may now be labelled
		refresh(li);
		labelsChanged();
	}

	void selectClass(int k) {
		if (k < 0 || k >= classes.size()) return;
		active = k;
		eraser = false;
		if (panel != null) panel.classesChanged();
	}

	int addClass() {
		int k = classes.size();
		if (k >= 255) return k - 1;
		classes.add(new LabelClass("Label " + (k + 1), LabelClass.defaultColor(k)));
		syncGroupNames();
		selectClass(k);
		return k;
	}

	/** The index of the class named so (-1: none). */
	int classIndex(String name) {
		for (int i = 0; i < classes.size(); i++) if (classes.get(i).name.equals(name)) return i;
		return -1;
	}

	void renameClass(int k, String name) {
		if (name == null || name.trim().isEmpty() || name.contains(",")) return;
		if (classIndex(name.trim()) >= 0 && classIndex(name.trim()) != k) return;  // two classes, two names
		classes.get(k).name = name.trim();
		for (LiveImage li : images) li.restyle(k, classes.get(k));
		syncGroupNames();
		refreshAll();
		if (panel != null) panel.classesChanged();
		savedAt = -1;
	}

	void recolorClass(int k, Color color) {
		if (color == null) return;
		classes.get(k).color = new Color(color.getRGB() & 0xffffff);
		for (LiveImage li : images) li.restyle(k, classes.get(k));
		rerender();
		if (panel != null) panel.classesChanged();
		savedAt = -1;
	}

	void deleteClass(int k) {
		if (classes.size() <= 1) return;
		classes.remove(k);
		Roi.setGroupName(classes.size() + 1, "");  // the last group is no class now
		for (LiveImage li : images) li.deleteClass(k, classes);
		active = Math.min(active, classes.size() - 1);
		syncGroupNames();
		for (LiveImage li : images) { li.cache.clear(); refresh(li); }
		labelsChanged();
	}

	/**
	 * ImageJ's group names follow the classes (ROI Manager and Properties show them) for this ImageJ
	 * session; they are not saved to ImageJ's preferences: each label ROI carries its class name
	 * ("class:name"), which is what a panel opened later, or on a saved RoiSet, reads.
	 */
	private void syncGroupNames() {
		for (int i = 0; i < classes.size(); i++) Roi.setGroupName(i + 1, classes.get(i).name);
	}

	/** Labels of class k over every image (ROIs). */
	int roiCount(int k) {
		int n = 0;
		for (LiveImage li : images) for (Roi r : li.labelRois()) if (r.getGroup() == k + 1) n++;
		return n;
	}

	// -- listeners ---------------------------------------------------------------------------------

	private void install(LiveImage li) {
		ImageWindow win = li.imp.getWindow();
		ImageCanvas canvas = li.imp.getCanvas();
		MouseAdapter mouse = new MouseAdapter() {
			@Override
			public void mouseReleased(MouseEvent e) {
				// after ImageJ's own handler has finished the selection, with the class chosen now
				int cls = active;
				boolean erasing = eraser;
				SwingUtilities.invokeLater(() -> selectionFinished(li, false, cls, erasing));
			}
		};
		if (canvas != null) canvas.addMouseListener(mouse);
		listeners.put(li, new Object[] { canvas, mouse });
		lastView.put(li, li.view());
		if (win != null) li.imp.getWindow().toFront();
	}

	private void installGlobalListeners() {
		roiListener = (imp, id) -> {
			if (id != RoiListener.COMPLETED) return;
			int cls = active;
			boolean erasing = eraser;
			for (LiveImage li : images) if (li.imp == imp) SwingUtilities.invokeLater(() -> selectionFinished(li, false, cls, erasing));
		};
		Roi.addRoiListener(roiListener);
		imageListener = new ImageListener() {
			@Override public void imageOpened(ImagePlus imp) { }

			@Override
			public void imageClosed(ImagePlus imp) {
				for (LiveImage li : images) if (li.imp == imp) SwingUtilities.invokeLater(() -> removeImage(li));
			}

			@Override
			public void imageUpdated(ImagePlus imp) {
				for (LiveImage li : images) if (li.imp == imp) SwingUtilities.invokeLater(() -> checkView(li));
			}
		};
		ImagePlus.addImageListener(imageListener);
		keys = e -> {
			if (e.getID() != KeyEvent.KEY_PRESSED || e.getModifiersEx() != 0) return false;
			if (!boundWindow(e.getComponent())) return false;
			// digits typed into a field (brush width, opacity, a name) are the field's
			if (e.getComponent() instanceof javax.swing.text.JTextComponent || e.getComponent() instanceof java.awt.TextComponent) return false;
			char c = e.getKeyChar();
			if (c >= '1' && c <= '9' && c - '1' < classes.size()) {
				selectClass(c - '1');
				return true;
			}
			return false;
		};
		KeyboardFocusManager.getCurrentKeyboardFocusManager().addKeyEventDispatcher(keys);
		viewTimer = new Timer(100, e -> {
			for (LiveImage li : images) checkView(li);
			if (panel != null) panel.syncWidth();
		});
		viewTimer.start();
	}

	private boolean boundWindow(java.awt.Component c) {
		Window w = c == null ? null : SwingUtilities.getWindowAncestor(c);
		if (c instanceof Window) w = (Window) c;
		if (w == null) return false;
		if (w == panel) return true;
		for (LiveImage li : images) if (li.imp.getWindow() == w) return true;
		return false;
	}

	/** The plane's overlay scaled to the canvas (zoomed out), so that repaints only copy it. */
	private static void rescale(LiveImage li, PredictionCache.Plane p) {
		ImageCanvas canvas = li.imp.getCanvas();
		if (canvas != null) p.roi.rescale(canvas);
	}

	/** A plane, pan or zoom change: show what the cache holds, and predict what is missing. */
	private void checkView(LiveImage li) {
		if (closed) return;
		LiveImage.View v = li.view();
		ImageCanvas canvas = li.imp.getCanvas();
		double mag = canvas == null ? 1 : canvas.getMagnification();
		if (v.equals(lastView.get(li)) && mag == lastMag.getOrDefault(li, mag)) return;
		if (mag != lastMag.getOrDefault(li, mag)) {  // zoomed: the plane's screen-sized copy is made again
			PredictionCache.Plane p = li.cache.get(v.t, v.z);
			if (p != null) actions.submit(() -> { rescale(li, p); SwingUtilities.invokeLater(() -> refresh(li)); });
		}
		lastMag.put(li, mag);
		boolean plane = !v.samePlane(lastView.get(li));
		lastView.put(li, v);
		if (plane) refresh(li);
		if (trainedVersion > 0 && li.cache.missing(v.t, v.z, v.rect, v.stride, trainedVersion) != null) viewChanged();
	}

	// -- actions (panel buttons; off the event thread) --------------------------------------------

	void submit(String what, Action action) {
		actions.submit(() -> {
			Thread.currentThread().setContextClassLoader(LiveSession.class.getClassLoader());
			try { action.run(); }
			catch (PythonService.CancelledException e) { setStatus(what + " cancelled."); }
			catch (PythonService.PixelForestException | IllegalArgumentException e) { error(e.getMessage()); }
			catch (Throwable e) {
				IJ.log("Pixel Forest: " + what + " failed: " + e);
				error(what + " failed: " + e.getMessage());
			}
		});
	}

	interface Action { void run() throws Exception; }

	/** Saves the classifier and its labels (.pfc); blocks until the current round is done. */
	void save(String path) throws Exception {
		if (trainedVersion == 0) throw new PythonService.PixelForestException("Nothing to save yet: paint strokes of two classes first.");
		Map<String, Object> p = map(Key.SESSION, id);
		p.put(Key.PATH, path);
		putClasses(p);
		PythonService.call(Protocol.LIVE_SAVE, p, null, "saving the classifier");
		savedPath = path;
		savedAt = labelsVersion.get();
		PixelForestCommand.rememberClassifier(path);
		setStatus("Saved " + new File(path).getName() + ".");
	}

	/** Resumes a saved classifier on the active image: its classes, features and labels (as ROIs). */
	void resume(String path) throws Exception {
		LiveImage li = activeImage();
		Map<String, Object> p = map(Key.SESSION, id);
		p.put(Key.IMAGE, li.id);
		p.put(Key.PATH, path);
		Map<String, Object> out = PythonService.call(Protocol.LIVE_RESUME, p, null, "opening " + new File(path).getName());
		NDArray index = (NDArray) out.get(Out.INDEX), value = (NDArray) out.get(Out.VALUE);
		long[] idx = new long[(int) index.shape().numElements()];
		byte[] val = new byte[idx.length];
		ImageBridge.buffer(index).asLongBuffer().get(idx);
		ImageBridge.buffer(value).get(val);
		index.close();
		value.close();
		List<LabelClass> loaded = new ArrayList<>();
		List<String> names = Protocol.strings(out.get(Out.CLASSES));
		List<Color> colors = Protocol.colors(out.get(Out.COLORS));
		for (int i = 0; i < names.size(); i++) loaded.add(new LabelClass(names.get(i), colors.get(i)));
		features = out.get(Out.SPEC);
		SwingUtilities.invokeAndWait(() -> {
			classes.clear();
			classes.addAll(loaded);
			active = 0;
			syncGroupNames();
			li.setLabels(idx, val, classes);
			li.sentVersion = li.version;
			for (LiveImage o : images) o.cache.clear();
			refresh(li);
			if (panel != null) panel.classesChanged();
		});
		trainedVersion = ((Number) out.get(Out.VERSION)).intValue();
		savedPath = path;
		savedAt = labelsVersion.get();
		viewChanged();
		String of = out.get(Out.LABELS_OF) == null ? "" : String.valueOf(out.get(Out.LABELS_OF));
		roundStatus = "Opened " + new File(path).getName() + ": " + idx.length + " labelled pixels"
			+ (of.isEmpty() || of.equals(li.imp.getTitle()) ? "." : " (the labels of " + of + ").");
		setStatus(roundStatus);
	}

	/** Where to label next on the active image's plane: rectangles in the overlay, listed in the panel. */
	void suggest(int k) throws Exception {
		LiveImage li = activeImage();
		if (trainedVersion == 0) throw new PythonService.PixelForestException("Train first: paint strokes of two classes.");
		int[] pos = li.position();
		Map<String, Object> p = map(Key.SESSION, id);
		p.put(Key.IMAGE, li.id);
		p.put(Key.T, pos[0]);
		p.put(Key.Z, pos[1]);
		p.put(Key.K, k);
		Map<String, Object> out = PythonService.call(Protocol.LIVE_SUGGEST, p, null, "finding where to label next");
		@SuppressWarnings("unchecked") List<List<Number>> regions = (List<List<Number>>) out.get(Out.REGIONS);
		List<double[]> found = new ArrayList<>();
		List<Roi> marks = new ArrayList<>();
		for (int i = 0; i < regions.size(); i++) {
			List<Number> r = regions.get(i);
			int y0 = r.get(0).intValue(), y1 = r.get(1).intValue(), x0 = r.get(2).intValue(), x1 = r.get(3).intValue();
			found.add(new double[] { pos[0], pos[1], x0, y0, x1 - x0, y1 - y0, r.get(4).doubleValue() });
			Roi mark = new Roi(x0, y0, x1 - x0, y1 - y0);
			mark.setStrokeColor(Color.yellow);
			mark.setStrokeWidth(2);
			mark.setName("label here #" + (i + 1));
			mark.setProperty(RoiIndex.NOT_A_LABEL, "suggestion");
			li.placeOnPlane(mark, pos[0], pos[1]);
			marks.add(mark);
		}
		suggestions = found;
		li.setMarks(marks);
		SwingUtilities.invokeLater(() -> {
			refresh(li);
			if (panel != null) panel.suggestionsChanged();
		});
		setStatus(found.isEmpty() ? "No uncertain place away from the labels." : found.size() + " places to label next (yellow).");
	}

	/** Centres the active image's view on suggestion i (event thread). */
	void jumpTo(int i) {
		if (i < 0 || i >= suggestions.size()) return;
		double[] s = suggestions.get(i);
		LiveImage li = activeImage();
		ImagePlus imp = li.imp;
		imp.setPositionWithoutUpdate(imp.getC(), (int) s[1] + 1, (int) s[0] + 1);
		ImageCanvas canvas = imp.getCanvas();
		if (canvas != null) {
			Rectangle src = canvas.getSrcRect();
			int cx = (int) (s[2] + s[4] / 2), cy = (int) (s[3] + s[5] / 2);
			int x = Math.max(0, Math.min(imp.getWidth() - src.width, cx - src.width / 2));
			int y = Math.max(0, Math.min(imp.getHeight() - src.height, cy - src.height / 2));
			canvas.setSourceRect(new Rectangle(x, y, src.width, src.height));
		}
		imp.updateAndDraw();
		checkView(li);
	}

	/** Changes the features (only cells not computed yet are computed); the next round uses them. */
	void setFeatures(Object spec) throws Exception {
		Map<String, Object> p = map(Key.SESSION, id);
		p.put(Key.FEATURES, spec);
		setBusy("Computing features...");
		Map<String, Object> out = PythonService.call(Protocol.LIVE_FEATURES, p, null, "computing features");
		features = out.get(Out.SPEC);
		trainedVersion = 0;
		for (LiveImage li : images) { li.cache.clear(); li.sentVersion = -1; }
		SwingUtilities.invokeLater(() -> { refreshAll(); labelsChanged(); });
		setStatus("Features: " + out.get(Out.N_FEATURES) + " per pixel.");
	}

	/** The path of a classifier saved from the current labels: the last one, or a new one asked for. */
	String ensureSaved() throws Exception {
		if (savedPath != null && savedAt == labelsVersion.get() && trainedVersion > 0) return savedPath;
		String path = savedPath != null ? savedPath : defaultPath();
		if (panel != null) {
			String chosen = panel.askSavePath(path);
			if (chosen == null) throw new PythonService.CancelledException("saving");
			path = chosen;
		}
		waitForRound();
		save(path);
		return path;
	}

	/** Waits until no round is pending or running (a save or result then holds the newest labels). */
	void waitForRound() throws InterruptedException {
		long end = System.currentTimeMillis() + 600_000;
		while (System.currentTimeMillis() < end) {
			synchronized (lock) { if (!roundPending || !live) break; }
			Thread.sleep(20);
		}
		synchronized (PythonService.class) { }  // the round in flight, if any, has returned
	}

	private String defaultPath() {
		ImagePlus imp = images.get(0).imp;
		FileInfo fi = imp.getOriginalFileInfo();
		String dir = fi != null && fi.directory != null && new File(fi.directory).canWrite() ? fi.directory : IJ.getDirectory("home");
		return new File(dir, imp.getTitle().replaceAll("\\.[^.]+$", "") + ".pfc").getPath();
	}

	/** Create result: as Apply Classifier... with the saved classifier, recorded as that command. */
	ImagePlus createResult(String output) throws Exception {
		String path = ensureSaved();
		LiveImage li = activeImage();
		setBusy("Creating " + output + " of " + li.imp.getTitle() + "...");
		ImagePlus result = ApplyClassifier.apply(li.imp, path, output);
		PixelForestCommand.show(result);
		if (Recorder.record)
			Recorder.recordString("run(\"Apply Classifier...\", \"classifier=[" + path + "] output=[" + output + "] apply=[Current image]\");\n");
		setStatus("Created " + result.getTitle() + ".");
		return result;
	}

	/** Apply to folder: the Batch... command with this classifier filled in. */
	void applyToFolder() throws Exception {
		String path = ensureSaved();
		Prefs.set(PixelForestCommand.CLASSIFIER, path);
		IJ.doCommand("Batch...");
	}

	/** Binds another open image: its features are computed, its labels train the same classifier. */
	void addImage(ImagePlus imp) throws Exception {
		if (forImage(imp) != null) throw new PythonService.PixelForestException(imp.getTitle() + " is already in a live session.");
		LiveImage li = new LiveImage(imp);
		if (!images.isEmpty()) {
			LiveImage first = images.get(0);
			if (imp.getNChannels() != first.imp.getNChannels() || imp.getBitDepth() == 24 != (first.imp.getBitDepth() == 24))
				throw new PythonService.PixelForestException(imp.getTitle() + " has other channels than " + first.imp.getTitle() + "; one classifier needs the same channels.");
		}
		openInWorker(li);
		SwingUtilities.invokeAndWait(() -> {
			images.add(li);
			install(li);
			refresh(li);
			if (panel != null) panel.classesChanged();
		});
		viewChanged();
	}

	private void removeImage(LiveImage li) {
		if (!images.contains(li)) return;
		if (images.size() == 1) { close(); return; }
		images.remove(li);
		uninstall(li);
		removed.add(li.id);
		labelsChanged();
	}

	private void uninstall(LiveImage li) {
		Object[] l = listeners.remove(li);
		if (l != null && l[0] != null) ((ImageCanvas) l[0]).removeMouseListener((MouseAdapter) l[1]);
	}

	/** Ends the session: rounds stop, the worker frees its features, the labels stay in the overlay as ROIs. */
	void close() {
		if (closed) return;
		synchronized (lock) { closed = true; lock.notifyAll(); }
		SESSIONS.remove(this);
		if (viewTimer != null) viewTimer.stop();
		if (keys != null) KeyboardFocusManager.getCurrentKeyboardFocusManager().removeKeyEventDispatcher(keys);
		if (roiListener != null) Roi.removeRoiListener(roiListener);
		if (imageListener != null) ImagePlus.removeImageListener(imageListener);
		for (LiveImage li : images) {
			uninstall(li);
			if (li.imp.getWindow() != null) li.leaveLabels();
		}
		actions.shutdown();
		if (panel != null) panel.dispose();
	}

	boolean isClosed() { return closed; }

	int labelsVersion() { return labelsVersion.get(); }

	int trainedVersion() { return trainedVersion; }

	LiveImage image(ImagePlus imp) {
		for (LiveImage li : images) if (li.imp == imp) return li;
		return null;
	}

	// -- for scripts and tests -----------------------------------------------------------------------

	/** True when the features are computed, no round or prediction is running or pending, and the overlay is painted. */
	public boolean idle() {
		synchronized (lock) {
			if (!ready || running || viewPending || (roundPending && live)) return false;
		}
		for (LiveImage li : images) {
			int[] pos = li.position();
			PredictionCache.Plane p = li.cache.get(pos[0], pos[1]);
			if (p != null && li.imp.getWindow() != null && li.imp.getWindow().isVisible() && p.roi.paintedTime < p.roi.dataTime) return false;
		}
		return true;
	}

	public int roundsStarted() { return roundsStarted.get(); }

	/** True once the first image's features are computed (the panel takes strokes before, and trains after). */
	public boolean isReady() { synchronized (lock) { return ready; } }

	/** When (ms) the first image's features were ready. */
	public long readyTime() { return readyTime; }

	/** How long the last round took in the worker and here (ms), without the paint. */
	public long lastRoundMs() { return lastRoundMs; }

	/** The panel window (null until it is shown). */
	public javax.swing.JFrame panel() { return panel; }

	public int roundsDone() { return roundsDone.get(); }

	public int roundsCancelled() { return roundsCancelled.get(); }

	/** The worker's classifier version: rounds trained (and classifiers opened). */
	public int classifierVersion() { return trainedVersion; }

	/** The id of this session in the worker (live_info lists it while the session is open). */
	public String workerSession() { return id; }

	public String status() { return status; }

	/** The class new labels go to (0-based). */
	public int activeClass() { return active; }

	public String[] classNames() {
		String[] out = new String[classes.size()];
		for (int i = 0; i < out.length; i++) out[i] = classes.get(i).name;
		return out;
	}

	public Color classColor(int k) { return classes.get(k).color; }

	/** The time (ms) the overlay of an image's current plane was last painted after new data; 0: never. */
	public long overlayPaintedTime(ImagePlus imp) {
		LiveImage li = image(imp);
		int[] pos = li.position();
		PredictionCache.Plane p = li.cache.get(pos[0], pos[1]);
		return p == null || p.roi.paintedTime < p.roi.dataTime ? 0 : p.roi.paintedTime;
	}

	/**
	 * When (ms) the view of an image, predicted at the canvas's resolution by the newest
	 * classifier, was painted; 0 while it is not.
	 */
	public long viewPaintedTime(ImagePlus imp) {
		LiveImage li = image(imp);
		LiveImage.View v = li.view();
		if (trainedVersion == 0 || li.cache.missing(v.t, v.z, v.rect, v.stride, trainedVersion) != null) return 0;
		PredictionCache.Plane p = li.cache.get(v.t, v.z);
		long painted = p == null ? 0 : p.roi.paintedTime;
		return p != null && painted >= p.roi.dataTime ? painted : 0;
	}

	/** Times (ms) of the last label change, round start, worker reply and overlay handed over (see lastTimes). */
	public long[] lastTimes() { return lastTimes.clone(); }

	/** The classes (1..K, 0 = nothing shown) of the current plane as the overlay shows them in Segmentation mode. */
	public byte[] shownSegmentation(ImagePlus imp) {
		LiveImage li = image(imp);
		int[] pos = li.position();
		return li.cache.segmentation(pos[0], pos[1]);
	}

	/** The overlay image of the current plane as drawn (ARGB), null when none. */
	public java.awt.image.BufferedImage shownOverlay(ImagePlus imp) {
		LiveImage li = image(imp);
		int[] pos = li.position();
		PredictionCache.Plane p = li.cache.get(pos[0], pos[1]);
		return p == null ? null : p.image;
	}

	/** The label ROIs of an image (copies of the list; the ROIs themselves). */
	public List<Roi> labels(ImagePlus imp) { return image(imp).labelRois(); }

	public void chooseClass(int k) { SwingUtilities.invokeLater(() -> selectClass(k)); }

	public void rename(int k, String name) { SwingUtilities.invokeLater(() -> renameClass(k, name)); }

	public void recolor(int k, Color c) { SwingUtilities.invokeLater(() -> recolorClass(k, c)); }

	public void showMode(String name) {
		SwingUtilities.invokeLater(() -> {
			for (PredictionCache.Mode m : PredictionCache.Mode.values()) if (m.label.equalsIgnoreCase(name)) mode = m;
			if (panel != null) for (javax.swing.JRadioButton b : panel.modes) b.setSelected(b.getText().equals(mode.label));
			rerender();
		});
	}

	public void showOpacity(double value) {
		SwingUtilities.invokeLater(() -> {
			if (panel != null) panel.opacity.setValue((int) Math.round(value * 100));
			opacity = value;
			refreshAll();
		});
	}

	/** Shows or hides the label ROIs over the prediction (the panel's Labels box). */
	public void showLabels(boolean on) {
		SwingUtilities.invokeLater(() -> { showLabels = on; refreshAll(); });
	}

	public void useEraser(boolean on) {
		SwingUtilities.invokeLater(() -> { eraser = on; if (panel != null) panel.classesChanged(); });
	}

	public void setLiveUpdate(boolean on) {
		SwingUtilities.invokeLater(() -> { if (panel != null) panel.liveToggle.setSelected(on); setLive(on); });
	}

	/** Saves the classifier with its labels once the labels' round has run. */
	public void saveTo(String path) throws Exception {
		waitForRound();
		save(path);
	}

	public void resumeFrom(String path) throws Exception { resume(path); }

	public int suggestPlaces(int k) throws Exception {
		suggest(k);
		return suggestions.size();
	}

	public void goTo(int i) { SwingUtilities.invokeLater(() -> jumpTo(i)); }

	public ImagePlus result(String output) throws Exception { return createResult(output); }

	public void addOpenImage(ImagePlus imp) throws Exception { addImage(imp); }

	/** Closes the panel (and the session), as the window's close button does. */
	public void closePanel() {
		SwingUtilities.invokeLater(() -> { if (panel != null) panel.dispose(); else close(); });
	}

	// -- status --------------------------------------------------------------------------------------

	private void setBusy(String s) {
		status = s;
		IJ.showStatus("Pixel Forest: " + s);
		if (panel != null) panel.showStatus(s, true, false);
	}

	void setStatus(String s) {
		status = s;
		IJ.showStatus("Pixel Forest: " + s);
		if (panel != null) panel.showStatus(s, false, false);
	}

	private void error(String s) {
		status = "Error: " + s;
		IJ.log("Pixel Forest live training: " + s);
		IJ.showStatus("Pixel Forest: " + s.split("\n")[0]);
		if (panel != null) panel.showStatus(s, false, true);
	}

	static Map<String, Object> map(String k, Object v) {
		Map<String, Object> m = new HashMap<>();
		m.put(k, v);
		return m;
	}
}
