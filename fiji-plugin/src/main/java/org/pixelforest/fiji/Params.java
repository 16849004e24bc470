package org.pixelforest.fiji;

import ij.Macro;
import ij.gui.GenericDialog;

import java.awt.GraphicsEnvironment;
import java.util.ArrayList;
import java.util.List;

/**
 * Command options: a GenericDialog (so the Recorder writes a replayable line and
 * macros pass options the usual way), or, when the JVM is headless and no
 * dialog can exist, the same keys read straight from the macro options. The
 * macro key of a field is the first word of its label, lower case.
 */
final class Params {

	private final GenericDialog gd;
	private final String options;
	private final List<String[]> fields = new ArrayList<>(); // {key, default}
	private int cursor;

	Params(String title) {
		options = Macro.getOptions();
		gd = GraphicsEnvironment.isHeadless() ? null : new GenericDialog(title);
	}

	private void add(String label, String def) {
		String key = label.trim().split("\\s+")[0].toLowerCase().replace(":", "");
		fields.add(new String[] { key, def });
	}

	void string(String label, String def) { add(label, def); if (gd != null) gd.addStringField(label, def, 36); }

	void file(String label, String def) { add(label, def); if (gd != null) gd.addFileField(label, def, 36); }

	void directory(String label, String def) { add(label, def); if (gd != null) gd.addDirectoryField(label, def, 36); }

	void choice(String label, String[] items, String def) { add(label, def); if (gd != null) gd.addChoice(label, items, def); }

	void number(String label, double def) { add(label, String.valueOf(def)); if (gd != null) gd.addNumericField(label, def, 0); }

	void message(String text) { if (gd != null) gd.addMessage(text); }

	void checkbox(String label, boolean def) { add(label, String.valueOf(def)); if (gd != null) gd.addCheckbox(label, def); }

	/** A Help button showing {@code html} (the command in a biologist's words; works offline). */
	void help(String html) { if (gd != null) gd.addHelp(html); }

	/** Shows the dialog (unless a macro gave the options); false when cancelled. */
	boolean show() {
		cursor = 0;
		if (gd == null) return true;
		gd.showDialog();
		return !gd.wasCanceled();
	}

	private String fromMacro() {
		String[] f = fields.get(cursor++);
		return options == null ? f[1] : Macro.getValue(options, f[0], f[1]);
	}

	String nextString() { if (gd == null) return fromMacro(); cursor++; return gd.getNextString(); }

	String nextChoice() { if (gd == null) return fromMacro(); cursor++; return gd.getNextChoice(); }

	boolean nextBoolean() {
		if (gd == null) {
			cursor++;
			String options = this.options;
			return options != null && Macro.getValue(options, fields.get(cursor - 1)[0], null) != null
				|| (options == null && Boolean.parseBoolean(fields.get(cursor - 1)[1]));
		}
		cursor++;
		return gd.getNextBoolean();
	}

	double nextNumber() {
		if (gd == null) {
			String v = fromMacro();
			try { return Double.parseDouble(v); }
			catch (NumberFormatException e) { throw new IllegalArgumentException("'" + fields.get(cursor - 1)[0] + "' must be a number, got " + v); }
		}
		cursor++;
		return gd.getNextNumber();
	}
}
