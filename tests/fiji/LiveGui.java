import ij.IJ;
import org.pixelforest.fiji.Protocol;
import org.pixelforest.fiji.Protocol.Out;
import ij.ImageJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.gui.ImageCanvas;
import ij.gui.ImageWindow;
import ij.gui.Line;
import ij.gui.Roi;
import ij.io.FileSaver;
import ij.plugin.frame.RoiManager;
import ij.process.ByteProcessor;
import org.pixelforest.fiji.LiveSession;

import javax.imageio.ImageIO;
import javax.swing.SwingUtilities;
import java.awt.Color;
import java.awt.Point;
import java.awt.Rectangle;
import java.awt.Robot;
import java.awt.Toolkit;
import java.awt.Window;
import java.awt.event.InputEvent;
import java.awt.event.KeyEvent;
import java.io.File;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

/**
 * Drives ImageJ's real GUI under Xvfb as a user would (java.awt.Robot: mouse and keys) through a
 * script of one command per line, and prints what it sees ("RESULT key value") for the tests and
 * the benchmark. Arguments: SCRIPT [OUTPUT_DIR]. Commands:
 *
 * open PATH | zoom PERCENT | live | tool NAME | width PX | key CHAR | stroke X Y X Y ... | drag X Y X Y
 * | click X Y | wait | shot FILE | seg FILE | labels FILE | save FILE | resume FILE | rename K NAME
 * | recolor K R G B | mode NAME | opacity V | slice Z | eraser on|off | liveupdate on|off | suggest K
 * | jump I | result OUTPUT | addimage PATH | closeimage | closepanel | workerinfo | monitor start|stop
 * | timed-strokes N | sleep MS | info | roirois FILE | quit
 *
 * Coordinates are image pixels. "wait" waits until the session is idle (no round running or
 * pending, overlay painted). "monitor" measures how late a 10 ms timer on the event thread runs.
 */
public class LiveGui {

	static Robot robot;
	static ImagePlus imp;
	static File out;
	static List<Long> lateness = Collections.synchronizedList(new ArrayList<>());
	static javax.swing.Timer monitor;
	static volatile long monitorNext;
	static java.util.Map<String, Integer> stalls = new java.util.concurrent.ConcurrentHashMap<>();

	public static void main(String[] args) throws Exception {
		out = new File(args.length > 1 ? args[1] : ".");
		robot = new Robot();
		robot.setAutoDelay(0);
		glasbey();
		new ImageJ();
		List<String> lines = Files.readAllLines(new File(args[0]).toPath());
		try {
			for (String line : lines) {
				line = line.trim();
				if (line.isEmpty() || line.startsWith("#")) continue;
				System.out.println("DO " + line);
				if (!run(line.split("\\s+"))) break;
			}
		}
		catch (Throwable e) {
			e.printStackTrace(System.out);
			System.out.println("RESULT failed " + e);
			System.exit(1);
		}
		System.out.println("RESULT done true");
		System.exit(0);
	}

	/**
	 * ImageJ colours ROI groups from luts/glasbey.lut, which Fiji ships and plain ImageJ from Maven
	 * does not (it then logs "LUT not found" for every ROI given a group): write one, as in Fiji.
	 */
	static void glasbey() throws Exception {
		File dir = new File(System.getProperty("plugins.dir", "."), "luts");
		File lut = new File(dir, "glasbey.lut");
		if (lut.exists()) return;
		dir.mkdirs();
		byte[] b = new byte[768];
		java.util.Random r = new java.util.Random(1);
		for (int i = 0; i < 768; i++) b[i] = (byte) (i < 3 ? 0 : r.nextInt(256));
		Files.write(lut.toPath(), b);
	}

	static LiveSession session() {
		LiveSession s = imp == null ? null : LiveSession.forImage(imp);
		if (s == null && !LiveSession.sessions().isEmpty()) s = LiveSession.sessions().get(0);
		return s;
	}

	static Point screen(double x, double y) {
		ImageCanvas c = imp.getCanvas();
		Point p = c.getLocationOnScreen();
		return new Point(p.x + c.screenXD(x), p.y + c.screenYD(y));
	}

	static void waitFor(String what, long ms, java.util.function.BooleanSupplier cond) throws Exception {
		long end = System.currentTimeMillis() + ms;
		while (!cond.getAsBoolean()) {
			if (System.currentTimeMillis() > end) throw new IllegalStateException("timed out waiting for " + what
				+ (session() != null ? " (status: " + session().status() + ")" : ""));
			Thread.sleep(10);
		}
	}

	/** Rounds started before the last stroke (or key, or click) began. */
	static int startedBeforeStroke;

	static void markRounds() {
		startedBeforeStroke = session() != null ? session().roundsStarted() : 0;
	}

	/** A left click at a screen point. */
	static void click(Point p) {
		robot.mouseMove(p.x, p.y);
		robot.mousePress(InputEvent.BUTTON1_DOWN_MASK);
		robot.mouseRelease(InputEvent.BUTTON1_DOWN_MASK);
	}

	static void idle() throws Exception {
		Thread.sleep(150);
		waitFor("the live session to be idle", 120_000, () -> session() == null || session().idle());
		settle();
	}

	/**
	 * The event thread has handled what was queued so far, and what that queued in turn. Not
	 * Robot.waitForIdle: it also waits for the X server to answer, and where that is slow it sat out
	 * its 10 s timeout at every call (minutes a test).
	 */
	static void settle() throws Exception {
		for (int i = 0; i < 2; i++) {
			SwingUtilities.invokeAndWait(() -> { });
			Thread.sleep(20);
		}
	}

	/** A drag through the given image points, a few pixels per step, as a hand would draw. */
	static long drag(String[] a, int from) throws Exception {
		List<Point> pts = new ArrayList<>();
		for (int i = from; i + 1 < a.length; i += 2) pts.add(screen(Double.parseDouble(a[i]), Double.parseDouble(a[i + 1])));
		robot.mouseMove(pts.get(0).x, pts.get(0).y);
		Thread.sleep(30);
		robot.mousePress(InputEvent.BUTTON1_DOWN_MASK);
		Point last = pts.get(0);
		for (Point p : pts.subList(1, pts.size())) {
			int n = Math.max(1, (int) (last.distance(p) / 4));
			for (int k = 1; k <= n; k++) {
				robot.mouseMove(last.x + (p.x - last.x) * k / n, last.y + (p.y - last.y) * k / n);
				Thread.sleep(4);
			}
			last = p;
		}
		Thread.sleep(20);
		robot.mouseRelease(InputEvent.BUTTON1_DOWN_MASK);
		return System.currentTimeMillis();
	}

	static void key(char c) throws Exception {
		LiveSession s = session();
		markRounds();
		boolean chooses = s != null && c >= '1' && c <= '9' && c - '1' < s.classNames().length;
		for (int attempt = 0; attempt < 5; attempt++) {
			if (attempt > 0) {
				// the keyboard stayed with another window (the panel's width field, after digits were typed
				// into it): a click on the image window's info line above the image, as a user would
				// click the image before pressing a class's key (a click on the image itself would paint)
				ImageWindow w = imp.getWindow();
				Point at = w.getLocationOnScreen();
				click(new Point(at.x + w.getInsets().left + 30, at.y + w.getInsets().top + 4));
				Thread.sleep(150);
			}
			Point p = screen(imp.getWidth() / 2.0, imp.getHeight() / 2.0);
			robot.mouseMove(p.x, p.y);  // the window under the pointer has the keyboard (twm)
			Thread.sleep(50 + 100 * attempt);
			int code = KeyEvent.getExtendedKeyCodeForChar(c);
			robot.keyPress(code);
			robot.keyRelease(code);
			Thread.sleep(60);  // not Robot.waitForIdle: it holds the event thread on the X server (it would count as a stall)
			if (!chooses) return;
			for (int i = 0; i < 20 && s.activeClass() != c - '1'; i++) Thread.sleep(10);
			if (s.activeClass() == c - '1') return;
			System.out.println("key " + c + " was not taken (the window had no focus yet); again");
		}
		throw new IllegalStateException("key " + c + " never reached the image window");
	}

	static void shot(String name) throws Exception {
		settle();
		Thread.sleep(300);  // (and the X server has drawn it)
		Rectangle screen = new Rectangle(Toolkit.getDefaultToolkit().getScreenSize());
		ImageIO.write(robot.createScreenCapture(screen), "png", new File(out, name));
		System.out.println("RESULT shot " + new File(out, name));
	}

	static boolean run(String[] a) throws Exception {
		switch (a[0]) {
			case "open":
				imp = IJ.openImage(a[1]);
				imp.show();
				waitFor("the image window", 10_000, () -> imp.getWindow() != null && imp.getWindow().isVisible());
				SwingUtilities.invokeAndWait(() -> imp.getWindow().setLocation(10, 130));
				Thread.sleep(300);
				return true;
			case "zoom": {
				double mag = Double.parseDouble(a[1]) / 100;
				SwingUtilities.invokeAndWait(() -> {
					ImageCanvas c = imp.getCanvas();
					c.setMagnification(mag);
					c.setSize((int) (imp.getWidth() * mag), (int) (imp.getHeight() * mag));
					c.setSourceRect(new Rectangle(0, 0, imp.getWidth(), imp.getHeight()));
					imp.getWindow().pack();
				});
				Thread.sleep(300);
				System.out.println("RESULT magnification " + imp.getCanvas().getMagnification());
				return true;
			}
			case "live": {
				long t0 = System.currentTimeMillis();
				IJ.doCommand("Live Training...");
				waitFor("the panel", 60_000, () -> session() != null && session().isReady());
				System.out.println("RESULT panel_ready_ms " + (System.currentTimeMillis() - t0));
				WindowManager.setCurrentWindow(imp.getWindow());
				return true;
			}
			case "tool":
				IJ.setTool(a[1]);
				return true;
			case "width":
				Line.setWidth(Integer.parseInt(a[1]));
				return true;
			case "key":
				key(a[1].charAt(0));
				return true;
			case "stroke": case "drag":
				markRounds();
				drag(a, 1);
				return true;
			case "click":
				markRounds();
				click(screen(Double.parseDouble(a[1]), Double.parseDouble(a[2])));
				return true;
			case "doubleclick": {
				Point p = screen(Double.parseDouble(a[1]), Double.parseDouble(a[2]));
				robot.mouseMove(p.x, p.y);
				for (int i = 0; i < 2; i++) { robot.mousePress(InputEvent.BUTTON1_DOWN_MASK); robot.mouseRelease(InputEvent.BUTTON1_DOWN_MASK); Thread.sleep(40); }
				return true;
			}
			case "wait":
				idle();
				LiveSession s = session();
				System.out.println("RESULT rounds " + (s == null ? 0 : s.roundsDone()) + " started " + (s == null ? 0 : s.roundsStarted())
					+ " cancelled " + (s == null ? 0 : s.roundsCancelled()) + " version " + (s == null ? 0 : s.classifierVersion()));
				return true;
			case "shot":
				shot(a[1]);
				return true;
			case "seg": {  // what the overlay shows, as classes
				byte[] seg = session().shownSegmentation(imp);
				ImagePlus s2 = new ImagePlus("seg", new ByteProcessor(imp.getWidth(), imp.getHeight(), seg));
				new FileSaver(s2).saveAsTiff(new File(out, a[1]).getPath());
				System.out.println("RESULT seg " + new File(out, a[1]));
				return true;
			}
			case "overlaypng": {  // the overlay image itself, as drawn
				ImageIO.write(session().shownOverlay(imp), "png", new File(out, a[1]));
				return true;
			}
			case "labels": {  // the label ROIs as a RoiSet.zip (through the ROI Manager, as a user saves them)
				List<Roi> rois = session().labels(imp);
				RoiManager rm = RoiManager.getRoiManager();
				rm.reset();
				for (Roi r : rois) rm.addRoi(r);
				rm.runCommand("Save", new File(out, a[1]).getPath());
				System.out.println("RESULT labels " + rois.size() + " groups " + groups(rois));
				rm.reset();
				rm.close();
				return true;
			}
			case "save":
				session().saveTo(new File(out, a[1]).getPath());
				return true;
			case "resume":
				session().resumeFrom(new File(out, a[1]).getPath());
				idle();
				return true;
			case "rename":
				session().rename(Integer.parseInt(a[1]), String.join(" ", Arrays.copyOfRange(a, 2, a.length)));
				Thread.sleep(200);
				return true;
			case "recolor":
				session().recolor(Integer.parseInt(a[1]), new Color(Integer.parseInt(a[2]), Integer.parseInt(a[3]), Integer.parseInt(a[4])));
				Thread.sleep(300);
				return true;
			case "mode":
				session().showMode(a[1]);
				Thread.sleep(300);
				return true;
			case "opacity":
				session().showOpacity(Double.parseDouble(a[1]));
				Thread.sleep(100);
				return true;
			case "slice": {
				int z = Integer.parseInt(a[1]);
				long t0 = System.currentTimeMillis();
				SwingUtilities.invokeAndWait(() -> imp.setSlice(z));
				if (session().classifierVersion() == 0) return true;  // nothing to show yet
				waitFor("the slice's overlay", 60_000, () -> session().overlayPaintedTime(imp) > t0);
				System.out.println("RESULT slice_ms " + (session().overlayPaintedTime(imp) - t0));
				return true;
			}
			case "frame": {
				int t = Integer.parseInt(a[1]);
				long t0 = System.currentTimeMillis();
				SwingUtilities.invokeAndWait(() -> imp.setPosition(imp.getC(), imp.getZ(), t));
				if (session().classifierVersion() == 0) return true;
				waitFor("the frame's overlay", 60_000, () -> session().overlayPaintedTime(imp) > t0);
				return true;
			}
			case "addimage":
				session().addOpenImage(imp);
				idle();
				return true;
			case "eraser":
				session().useEraser(a[1].equals("on"));
				Thread.sleep(100);
				return true;
			case "liveupdate":
				session().setLiveUpdate(a[1].equals("on"));
				Thread.sleep(100);
				return true;
			case "suggest":
				System.out.println("RESULT suggestions " + session().suggestPlaces(Integer.parseInt(a[1])));
				idle();
				return true;
			case "jump":
				session().goTo(Integer.parseInt(a[1]));
				Thread.sleep(300);
				idle();
				Rectangle r = imp.getCanvas().getSrcRect();
				System.out.println("RESULT view " + r.x + " " + r.y + " " + r.width + " " + r.height + " slice " + imp.getCurrentSlice());
				return true;
			case "result": {
				ImagePlus res = session().result(String.join(" ", Arrays.copyOfRange(a, 1, a.length)));
				new FileSaver(res).saveAsTiff(new File(out, res.getTitle() + ".tif").getPath());
				System.out.println("RESULT result " + res.getTitle() + " channels " + res.getNChannels());
				return true;
			}
			case "closeimage":
				SwingUtilities.invokeAndWait(() -> imp.close());
				return true;
			case "closepanel":
				session().closePanel();
				Thread.sleep(300);
				return true;
			case "workerinfo": {
				ClassLoader cl = Thread.currentThread().getContextClassLoader();
				Thread.currentThread().setContextClassLoader(LiveSession.class.getClassLoader());
				try {
					java.util.Map<String, Object> info = org.pixelforest.fiji.PythonService.call(Protocol.LIVE_INFO, null, null, "asking");
					System.out.println("RESULT workerinfo sessions " + info.get(Out.SESSIONS) + " cached " + info.get(Out.CACHED_SESSIONS) + " images " + info.get(Out.IMAGES) + " rss_kb " + info.get(Out.RSS_KB));
				}
				finally {
					Thread.currentThread().setContextClassLoader(cl);
				}
				return true;
			}
			case "monitor":
				if (a[1].equals("start")) {
					lateness.clear();
					monitorNext = System.nanoTime() + 10_000_000L;
					SwingUtilities.invokeAndWait(() -> {
						monitor = new javax.swing.Timer(10, e -> {
							long now = System.nanoTime();
							lateness.add(Math.max(0, now - monitorNext) / 1_000_000L);
							monitorNext = now + 10_000_000L;
						});
						monitor.setCoalesce(false);
						monitor.start();
					});
					stalls.clear();
					Thread watch = new Thread(() -> {  // what the event thread does when it is late: where the time goes
						while (monitor != null && monitor.isRunning()) {
							try { Thread.sleep(5); } catch (InterruptedException e) { return; }
							if (System.nanoTime() - monitorNext > 60_000_000L) {
								for (java.util.Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet())
									if (e.getKey().getName().startsWith("AWT-EventQueue")) {
										StringBuilder sb = new StringBuilder();
										for (int k = 0; k < Math.min(14, e.getValue().length); k++) sb.append(e.getValue()[k]).append(" < ");
										stalls.merge(sb.toString(), 1, Integer::sum);
									}
								try { Thread.sleep(40); } catch (InterruptedException e) { return; }
							}
						}
					}, "edt-watch");
					watch.setDaemon(true);
					watch.start();
				}
				else {
					SwingUtilities.invokeAndWait(() -> monitor.stop());
					List<Long> l = new ArrayList<>(lateness);
					Collections.sort(l);
					stalls.entrySet().stream().sorted((x, y) -> y.getValue() - x.getValue()).limit(4)
						.forEach(e -> System.out.println("STALL " + e.getValue() + "x " + e.getKey()));
					System.out.println("RESULT edt_late_ms " + (l.isEmpty() ? 0 : l.get(l.size() - 1)) + " "
						+ (l.isEmpty() ? 0 : l.get((int) (l.size() * 0.99))) + " " + l.size() + " (max, 99th percentile, ticks)");
				}
				return true;
			case "timed-strokes":  // the strokes of a file, each timed release -> overlay painted
				timedStrokes(new File(a[1]), a.length > 2 ? Long.parseLong(a[2]) : 500);
				return true;
			case "sleep":
				Thread.sleep(Long.parseLong(a[1]));
				return true;
			case "info": {
				LiveSession s2 = session();
				System.out.println("RESULT info classes " + String.join(",", s2.classNames()) + " status " + s2.status());
				return true;
			}
			case "train-command": {  // Train Classifier... on the overlay's ROIs, as a user would run it
				IJ.run(imp, "Train Classifier...", "labels=Overlay features=pixelforest-default classes=[] trees=100 seed=0 stages=1 save=["
					+ new File(out, a[1]).getPath() + "]");
				System.out.println("RESULT train-command " + new File(out, a[1]).exists());
				return true;
			}
			case "strokes-during-round": {  // waits for a round to start, then draws strokes (separated by |) at once
				LiveSession s3 = session();
				int started = s3.roundsStarted();
				waitFor("a round to start", 60_000, () -> s3.roundsStarted() > started);
				boolean during = true;
				List<String> pts = new ArrayList<>();
				for (int i = 1; i <= a.length; i++) {
					if (i == a.length || a[i].equals("|")) {
						pts.add(0, "");
						drag(pts.toArray(new String[0]), 1);
						during &= s3.roundsDone() == s3.roundsStarted() - 1 && s3.roundsStarted() == started + 1;
						pts.clear();
					}
					else pts.add(a[i]);
				}
				System.out.println("RESULT during_round " + during + " started_before " + started);
				return true;
			}
			case "await-round-start": {  // a round started after the last stroke, key or click began (it may have started already)
				LiveSession s3 = session();
				waitFor("a round to start", 60_000, () -> s3.roundsStarted() > startedBeforeStroke);
				return true;
			}
			case "dialogs": {  // the titles of visible dialogs (an error would show one)
				StringBuilder sb = new StringBuilder();
				for (Window w : Window.getWindows())
					if (w.isVisible() && w instanceof java.awt.Dialog) sb.append(((java.awt.Dialog) w).getTitle()).append('|');
				System.out.println("RESULT dialogs " + sb);
				return true;
			}
			case "log": {
				String log = IJ.getLog();
				System.out.println("RESULT log " + (log == null ? "" : log.replace('\n', '|')));
				return true;
			}
			case "commands-round": {  // what the same rounds cost with the Train + Apply commands, as before Live Training
				List<Long> ms = new ArrayList<>();
				File model = new File(out, "commands.pfc");
				for (int i = 0; i < Integer.parseInt(a[1]); i++) {
					long t0 = System.currentTimeMillis();
					IJ.run(imp, "Train Classifier...", "labels=Overlay features=pixelforest-default classes=[] trees=100 seed=0 stages=1 save=["
						+ model.getPath() + "]");
					IJ.run(imp, "Apply Classifier...", "classifier=[" + model.getPath() + "] output=Probabilities apply=[Current image]");
					ms.add(System.currentTimeMillis() - t0);
					ImagePlus res = WindowManager.getCurrentImage();
					if (res != null && res != imp) { res.changes = false; res.close(); }
					WindowManager.setCurrentWindow(imp.getWindow());
				}
				System.out.println("RESULT commands_ms " + ms);
				return true;
			}
			case "first-overlay": {  // panel opened -> overlay after the first two strokes (drawn at once)
				long t0 = System.currentTimeMillis();
				IJ.doCommand("Live Training...");
				waitFor("the panel", 60_000, () -> session() != null && session().panel() != null);
				Thread.sleep(200);
				key('1');
				long d0 = System.currentTimeMillis();
				drag(new String[] { "", a[1], a[2], a[3], a[4] }, 1);
				key('2');
				drag(new String[] { "", a[5], a[6], a[7], a[8] }, 1);
				long drawn = System.currentTimeMillis() - d0;
				waitFor("the first overlay", 120_000, () -> session().classifierVersion() > 0 && session().overlayPaintedTime(imp) > 0);
				long total = session().overlayPaintedTime(imp) - t0;
				long[] t = session().lastTimes();
				System.out.println("RESULT canvas magnification " + imp.getCanvas().getMagnification() + " view " + imp.getCanvas().getSrcRect());
				System.out.println("RESULT first_overlay_ms " + total + " " + drawn + " (total, drawing; ready " + (session().readyTime() - t0)
					+ " change " + (t[0] - t0) + " start " + (t[1] - t0) + " reply " + (t[2] - t0) + ")");
				return true;
			}
			case "addclass":
				SwingUtilities.invokeAndWait(() -> {
					for (java.awt.Component c : all(session().panel())) if (c instanceof javax.swing.AbstractButton && "Add".equals(((javax.swing.AbstractButton) c).getText())) ((javax.swing.AbstractButton) c).doClick();
				});
				return true;
			case "click-button": {  // a real click (Robot) on a button of any window, by its text
				String label = String.join(" ", Arrays.copyOfRange(a, 1, a.length));
				java.awt.Component found = null;
				for (Window w : Window.getWindows())
					if (w.isVisible()) for (java.awt.Component c : all(w))
						if (c instanceof javax.swing.AbstractButton && label.equals(((javax.swing.AbstractButton) c).getText()) && c.isShowing()) found = c;
				if (found == null) throw new IllegalStateException("no button " + label);
				Point p = found.getLocationOnScreen();
				robot.mouseMove(p.x + found.getWidth() / 2, p.y + found.getHeight() / 2);
				Thread.sleep(100);
				robot.mousePress(InputEvent.BUTTON1_DOWN_MASK);
				robot.mouseRelease(InputEvent.BUTTON1_DOWN_MASK);
				Thread.sleep(300);
				return true;
			}
			case "await-dialog": {
				String title = String.join(" ", Arrays.copyOfRange(a, 1, a.length));
				waitFor("the dialog " + title, 30_000, () -> {
					for (Window w : Window.getWindows())
						if (w.isVisible() && w instanceof java.awt.Dialog && ((java.awt.Dialog) w).getTitle().equals(title)) return true;
					return false;
				});
				Thread.sleep(500);
				return true;
			}
			case "feature-grid": {  // the open Features dialog, on a preset chosen in its list: the boxes a user cannot tick
				String choose = a.length > 1 ? a[1] : null;
				SwingUtilities.invokeAndWait(() -> {
					for (Window w : Window.getWindows()) {
						if (!w.isVisible() || !(w instanceof java.awt.Dialog) || !((java.awt.Dialog) w).getTitle().equals("Pixel Forest: Features")) continue;
						for (java.awt.Component c : all(w))
							if (choose != null && c instanceof javax.swing.JComboBox) {
								javax.swing.JComboBox<?> box = (javax.swing.JComboBox<?>) c;
								for (int i = 0; i < box.getItemCount(); i++) if (choose.equals(box.getItemAt(i))) box.setSelectedIndex(i);
							}
					}
				});
				Thread.sleep(300);
				SwingUtilities.invokeAndWait(() -> {
					for (Window w : Window.getWindows()) {
						if (!w.isVisible() || !(w instanceof java.awt.Dialog) || !((java.awt.Dialog) w).getTitle().equals("Pixel Forest: Features")) continue;
						for (java.awt.Component c : all(w)) {
							if (!(c instanceof javax.swing.JCheckBox) || !(c.getParent().getLayout() instanceof java.awt.GridBagLayout)) continue;
							java.awt.Container grid = c.getParent();
							java.awt.GridBagConstraints gc = ((java.awt.GridBagLayout) grid.getLayout()).getConstraints(c);
							String row = "", col = "";
							int rowIndex = 0, colIndex = 0;
							for (java.awt.Component o : grid.getComponents()) {  // the row's name (first in its row) and the column's scale (header row)
								java.awt.GridBagConstraints oc = ((java.awt.GridBagLayout) grid.getLayout()).getConstraints(o);
								if (o instanceof javax.swing.JLabel && oc.gridy == gc.gridy) row = ((javax.swing.JLabel) o).getText();
							}
							int k = 0;
							for (java.awt.Component o : grid.getComponents()) if (((java.awt.GridBagLayout) grid.getLayout()).getConstraints(o).gridy == gc.gridy) { if (o == c) colIndex = k; k++; }
							k = 0;
							for (java.awt.Component o : grid.getComponents()) if (((java.awt.GridBagLayout) grid.getLayout()).getConstraints(o).gridy == 0) { if (k == colIndex) col = ((javax.swing.JLabel) o).getText(); k++; }
							System.out.println("RESULT box " + row + " | " + col + " | " + (c.isEnabled() ? "on" : "off") + " | "
								+ (((javax.swing.JCheckBox) c).getToolTipText() == null ? "" : ((javax.swing.JCheckBox) c).getToolTipText()));
						}
					}
				});
				return true;
			}
			case "close-dialogs":
				SwingUtilities.invokeAndWait(() -> {
					for (Window w : Window.getWindows()) if (w.isVisible() && w instanceof java.awt.Dialog) w.dispose();
				});
				return true;
			case "use":  // an open image becomes the one the commands act on
				imp = WindowManager.getImage(String.join(" ", Arrays.copyOfRange(a, 1, a.length)));
				if (imp == null) throw new IllegalStateException("no image " + a[1]);
				WindowManager.setCurrentWindow(imp.getWindow());
				return true;
			case "duplicate": {  // a copy of the image (the same pixels), shown to the right
				ImagePlus copy = imp.duplicate();
				copy.setTitle(a[1]);
				copy.setOverlay(null);
				copy.show();
				waitFor("the copy's window", 10_000, () -> copy.getWindow() != null && copy.getWindow().isVisible());
				SwingUtilities.invokeAndWait(() -> copy.getWindow().setLocation(10 + imp.getWindow().getWidth() + 20, 130));
				Thread.sleep(300);
				imp = copy;
				return true;
			}
			case "stroke-key": {  // a stroke, and a key pressed at once after its release (the next stroke's class)
				char c = a[1].charAt(0);
				drag(a, 2);
				int code = KeyEvent.getExtendedKeyCodeForChar(c);
				robot.keyPress(code);
				robot.keyRelease(code);
				waitFor("the key", 5_000, () -> session().activeClass() == c - '1');
				return true;
			}
			case "type-width": {  // digits typed into the panel's brush width field
				javax.swing.JSpinner spinner = null;
				for (java.awt.Component c : all(session().panel())) if (c instanceof javax.swing.JSpinner) spinner = (javax.swing.JSpinner) c;
				javax.swing.JComponent field = ((javax.swing.JSpinner.DefaultEditor) spinner.getEditor()).getTextField();
				Point p = field.getLocationOnScreen();
				robot.mouseMove(p.x + field.getWidth() / 2, p.y + field.getHeight() / 2);
				Thread.sleep(200);
				for (int i = 0; i < 3; i++) { robot.mousePress(InputEvent.BUTTON1_DOWN_MASK); robot.mouseRelease(InputEvent.BUTTON1_DOWN_MASK); Thread.sleep(40); }
				Thread.sleep(200);
				for (char ch : a[1].toCharArray()) {
					int code = KeyEvent.getExtendedKeyCodeForChar(ch);
					robot.keyPress(code);
					robot.keyRelease(code);
					Thread.sleep(60);
				}
				robot.keyPress(KeyEvent.VK_ENTER);
				robot.keyRelease(KeyEvent.VK_ENTER);
				Thread.sleep(400);
				System.out.println("RESULT width " + Line.getWidth() + " active " + session().activeClass());
				return true;
			}
			case "killworker": {  // the worker dies (as killed by the system for memory)
				ClassLoader cl = Thread.currentThread().getContextClassLoader();
				Thread.currentThread().setContextClassLoader(LiveSession.class.getClassLoader());
				long pid;
				try { pid = Long.parseLong(org.pixelforest.fiji.PythonService.workerPid()); }
				finally { Thread.currentThread().setContextClassLoader(cl); }
				ProcessHandle h = ProcessHandle.of(pid).orElseThrow(IllegalStateException::new);
				h.destroyForcibly();
				h.onExit().get();
				System.out.println("RESULT killed " + pid);
				return true;
			}
			case "aligned": {  // the overlay on screen against the shown segmentation drawn by ImageJ as an image, same zoom
				session().showLabels(false);
				ij.Prefs.interpolateScaledImages = false;  // both drawn pixel for pixel, zoomed out too
				Thread.sleep(300);
				idle();
				ImagePlus ref = new ImagePlus("reference", new ij.process.ColorProcessor(session().shownOverlay(imp)));
				ref.show();
				waitFor("the reference window", 10_000, () -> ref.getWindow() != null && ref.getWindow().isVisible());
				double mag = imp.getCanvas().getMagnification();
				SwingUtilities.invokeAndWait(() -> {
					ImageCanvas c = ref.getCanvas();
					c.setMagnification(mag);
					c.setSize(imp.getCanvas().getWidth(), imp.getCanvas().getHeight());
					c.setSourceRect(new Rectangle(imp.getCanvas().getSrcRect()));
					ref.getWindow().pack();
					ref.getWindow().setLocation(imp.getWindow().getX() + imp.getWindow().getWidth() + 10, imp.getWindow().getY());
				});
				Thread.sleep(800);
				// each canvas painted as on screen (ImageCanvas.paint), into an image: no window can cover it
				ImageCanvas c1 = imp.getCanvas(), c2 = ref.getCanvas();
				int w = Math.min(c1.getWidth(), c2.getWidth()), h = Math.min(c1.getHeight(), c2.getHeight());
				java.awt.image.BufferedImage a1 = new java.awt.image.BufferedImage(w, h, java.awt.image.BufferedImage.TYPE_INT_RGB);
				java.awt.image.BufferedImage a2 = new java.awt.image.BufferedImage(w, h, java.awt.image.BufferedImage.TYPE_INT_RGB);
				SwingUtilities.invokeAndWait(() -> {
					java.awt.Graphics g1 = a1.createGraphics(), g2 = a2.createGraphics();
					c1.paint(g1);
					c2.paint(g2);
					g1.dispose();
					g2.dispose();
				});
				int differ = 0;  // a pixel's colour off by more than scaling's rounding: a prediction pixel out of place
				for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) {
					int p1 = a1.getRGB(x, y), p2 = a2.getRGB(x, y);
					for (int sh = 0; sh < 24; sh += 8) if (Math.abs((p1 >> sh & 255) - (p2 >> sh & 255)) > 8) { differ++; break; }
				}
				System.out.println("RESULT aligned " + a[1] + " differ " + differ + " of " + (w * h));
				if (differ > 0) { ImageIO.write(a1, "png", new File(out, "aligned-overlay-" + a[1] + ".png")); ImageIO.write(a2, "png", new File(out, "aligned-ref-" + a[1] + ".png")); }
				SwingUtilities.invokeAndWait(() -> { ref.changes = false; ref.close(); });
				session().showLabels(true);
				return true;
			}
			case "quit":
				return false;
			default:
				throw new IllegalArgumentException("unknown command " + a[0]);
		}
	}

	static List<java.awt.Component> all(java.awt.Component root) {
		List<java.awt.Component> out = new ArrayList<>();
		out.add(root);
		if (root instanceof java.awt.Container)
			for (java.awt.Component c : ((java.awt.Container) root).getComponents()) out.addAll(all(c));
		return out;
	}

	static String groups(List<Roi> rois) {
		StringBuilder sb = new StringBuilder();
		for (Roi r : rois) sb.append(r.getGroup()).append(',');
		return sb.toString();
	}

	/**
	 * The benchmark's loop: the strokes of a file (lines "CLASS X0 Y0 X1 Y1 ..."), the class chosen
	 * by its key, each timed from the mouse release to the first paint of the overlay trained with it.
	 * With PAUSE ms between strokes, as a user looks before painting again.
	 */
	static void timedStrokes(File file, long pause) throws Exception {
		List<Long> ms = new ArrayList<>();
		int i = 0;
		for (String line : Files.readAllLines(file.toPath())) {
			String[] f = line.trim().split("\\s+");
			if (f.length < 5) continue;
			i++;
			key(f[0].charAt(0));
			int v0 = session().classifierVersion();
			String[] pts = new String[f.length];
			System.arraycopy(f, 1, pts, 1, f.length - 1);
			pts[0] = "";
			long released = drag(pts, 1);
			Thread.sleep(50);
			if (session().roundsStarted() == 0 && session().idle()) continue;  // one class so far: nothing to train
			waitFor("the overlay of stroke " + i, 120_000, () -> session().classifierVersion() > v0
				&& session().overlayPaintedTime(imp) >= released);
			long painted = session().overlayPaintedTime(imp);
			long[] t = session().lastTimes();
			long[] fullAt = new long[1];
			waitFor("the full view of stroke " + i, 120_000, () -> (fullAt[0] = session().viewPaintedTime(imp)) > 0);
			long full = fullAt[0];
			ms.add(painted - released);
			System.out.println("RESULT stroke " + i + " ms " + (painted - released) + " round_ms " + session().lastRoundMs()
				+ " full_ms " + (full - released) + " (change " + (t[0] - released) + " start " + (t[1] - released)
				+ " reply " + (t[2] - released) + " shown " + (t[3] - released) + ")");
			Thread.sleep(pause);
		}
		System.out.println("RESULT strokes_ms " + ms);
	}
}
