package org.pixelforest.fiji;

import ij.IJ;
import ij.ImagePlus;
import ij.Macro;
import ij.Prefs;
import ij.WindowManager;
import ij.macro.Interpreter;
import ij.plugin.PlugIn;

import java.awt.GraphicsEnvironment;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;

/** What every Pixel Forest command shares: error reporting, the current image and classifier, showing results. */
public abstract class PixelForestCommand implements PlugIn {

	static final String CLASSIFIER = "pixelforest.classifier";
	static final String[] SOURCES = { "Probabilities", "Simple Segmentation", "Uncertainty", "Features" };

	@Override
	public final void run(String arg) {
		// Appose finds its shared-memory support with ServiceLoader through the context class
		// loader; inside ImageJ that is not the loader that holds this plugin jar.
		Thread thread = Thread.currentThread();
		ClassLoader saved = thread.getContextClassLoader();
		thread.setContextClassLoader(PixelForestCommand.class.getClassLoader());
		try {
			execute(arg);
		}
		catch (PythonService.CancelledException e) {
			IJ.showProgress(1.0);
			IJ.showStatus("Pixel Forest: " + e.getMessage());
		}
		catch (PythonService.PixelForestException | IllegalArgumentException e) {
			fail(e.getMessage());
		}
		catch (Throwable e) {
			StringWriter sw = new StringWriter();
			e.printStackTrace(new PrintWriter(sw));
			IJ.log("Pixel Forest: " + getClass().getSimpleName() + " failed:\n" + sw);
			fail(e.getClass().getSimpleName() + ": " + e.getMessage() + "\n(see the Log window for details)");
		}
		finally {
			thread.setContextClassLoader(saved);
		}
	}

	protected abstract void execute(String arg) throws Exception;

	/**
	 * A readable error. Interactively a dialog; in batch mode or headless (unattended runs) the
	 * Log window and stderr, and the running macro is aborted so it does not go on without results.
	 */
	static void fail(String message) {
		IJ.showProgress(1.0);
		boolean unattended = Interpreter.isBatchMode() || GraphicsEnvironment.isHeadless();
		if (unattended) {
			IJ.log("Pixel Forest error: " + message);  // without ImageJ's window the Log is stdout:
			if (IJ.getInstance() != null) System.err.println("Pixel Forest error: " + message);  // once, not twice
		}
		else IJ.error("Pixel Forest", message);
		if (Macro.getOptions() != null || unattended) {
			Interpreter macro = Interpreter.getInstance();
			if (macro != null) stop(macro, message);  // the running macro (also in -batch mode)
			Macro.abort();  // a plugin or script calling IJ.run
		}
	}

	/**
	 * Stops the running macro. On the macro's own thread (this command was started by its run(...),
	 * and IJ.run names that thread "Run$_..."), the macro is told it is done: no further statement
	 * runs, with no error message of ImageJ's own (ours is said once), and its error message is ours
	 * (Interpreter.getErrorMessage). ImageJ's abortMacro() would also wait up to 2 s for the macro to
	 * end, which it cannot while its own thread is the one waiting: 2 s lost on every error.
	 * From another thread, abortMacro(): it stops that macro and waits for it.
	 */
	private static void stop(Interpreter macro, String message) {
		if (Thread.currentThread().getName().startsWith("Run$_")) {
			macro.setIgnoreErrors(true);  // as abortMacro() does: no "Macro Error" dialog or line
			macro.abort(message);  // done, and the macro's batch mode and images reset now
		}
		else macro.abortMacro();
	}

	static ImagePlus currentImage() throws PythonService.PixelForestException {
		ImagePlus imp = WindowManager.getCurrentImage();
		if (imp == null) throw new PythonService.PixelForestException("There is no image open.");
		return imp;
	}

	static List<ImagePlus> openImages() {
		List<ImagePlus> out = new ArrayList<>();
		int[] ids = WindowManager.getIDList();
		if (ids != null) for (int id : ids) out.add(WindowManager.getImage(id));
		return out;
	}

	static String lastClassifier() { return Prefs.get(CLASSIFIER, ""); }

	static void rememberClassifier(String path) { if (path != null && !path.startsWith("(")) Prefs.set(CLASSIFIER, path); }

	/** Shows a result so that macros (even in batch mode) can select it by title. */
	static void show(ImagePlus imp) {
		imp.show();
		WindowManager.setTempCurrentImage(imp);
	}

	/** A file beside the image's own (its folder, else the home folder), named after its title with {@code suffix}. */
	static String beside(ImagePlus imp, String suffix) {
		ij.io.FileInfo fi = imp.getOriginalFileInfo();
		String dir = fi != null && fi.directory != null && !fi.directory.isEmpty() ? fi.directory : IJ.getDirectory("home");
		return new java.io.File(dir, imp.getTitle().replaceAll("\\.[^.]+$", "") + suffix).getPath();
	}

	static String source(String name) {
		return name.toLowerCase().replace(' ', '-');
	}
}
