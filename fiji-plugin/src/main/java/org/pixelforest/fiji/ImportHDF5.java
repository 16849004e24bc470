package org.pixelforest.fiji;

import ij.ImagePlus;
import org.apposed.appose.NDArray;

import java.io.File;
import java.util.HashMap;
import java.util.Map;

/** Plugins > Pixel Forest > Import HDF5...: ilastik4ij's axis rules (axistags, else its guess). */
public class ImportHDF5 extends PixelForestCommand {

	@Override
	protected void execute(String arg) throws Exception {
		Params p = new Params("Pixel Forest: Import HDF5");
		p.file("select", "");
		p.string("datasetname", "");
		p.string("axisorder", "");
		p.message("dataset and axis order may stay empty: taken from the file (axistags) or guessed as ilastik4ij does");
		if (!p.show()) return;
		String path = p.nextString().trim(), dataset = p.nextString().trim(), axes = p.nextString().trim();
		Map<String, Object> params = new HashMap<>();
		params.put("path", path);
		params.put("dataset", dataset);
		params.put("axes", axes);
		Map<String, Object> out = PythonService.call("import_hdf5", params, null, "importing " + path);
		NDArray res = (NDArray) out.get("result");
		try {
			String title = new File(path).getName() + (dataset.isEmpty() ? "" : "/" + dataset.replaceAll("^/", ""));
			ImagePlus imp = ImageBridge.importedImage(res, title);
			imp.setProperty("pixelforest.axes", String.valueOf(out.get("axes")));
			show(imp);
		}
		finally {
			res.close();
		}
	}
}
