import ij.IJ;
import ij.ImageJ;
import ij.macro.MacroRunner;

import java.io.File;

/**
 * A macro file run in ImageJ's window (under Xvfb) on a thread of its own, as Plugins > Macros >
 * Run... runs it; then "MACRO ENDED" and the Log window's text after a "--- Log window ---" line.
 * Arguments: MACRO.ijm
 */
public class RunMacro {
	public static void main(String[] args) throws Exception {
		new ImageJ();
		Thread macro = new MacroRunner(new File(args[0])).getThread();
		macro.join(300_000);
		System.out.println(macro.isAlive() ? "MACRO STILL RUNNING" : "MACRO ENDED");
		System.out.println("--- Log window ---");
		String log = IJ.getLog();
		System.out.println(log == null ? "" : log);
		System.exit(0);
	}
}
